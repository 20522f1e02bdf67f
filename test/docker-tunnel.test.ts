import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { dockerAudit, dockerRequest, openTunnel, tunnelRefusal } from './support/docker-tunnel.ts'
import { createUser, expectErrorBody, registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// GET /servers/:id/docker: a WebSocket that carries one connection to the host's Docker socket,
// spoken to here byte by byte as a Docker client would, with the real agent and Engine.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'docker-host'))
})

afterAll(async () => {
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await agent?.stop()
  await api?.stop()
})

/** The refusal of an upgrade, as the API's error body. */
const refused = (token: string, server = serverId) => tunnelRefusal(api.url, server, token)

describe('a Docker connection', () => {
  test("carries a client's requests to the host's Docker and its answers back, kept alive", async () => {
    const tunnel = await openTunnel(api.url, serverId, admin)
    tunnel.send(dockerRequest('GET', '/_ping'))
    expect(await tunnel.waitFor('\r\n\r\nOK')).toMatch(/^HTTP\/1\.1 200 OK/)
    tunnel.send(dockerRequest('GET', '/v1.41/version'))
    const version = JSON.parse((await tunnel.waitFor('"ApiVersion"')).split('\r\n\r\n').at(-1) ?? '')
    expect(version.Version).toBe(docker('version', '--format', '{{.Server.Version}}'))
    tunnel.close()
  })

  test('each call that changes something is audited by method, path and answer; never its query or body', async () => {
    const tunnel = await openTunnel(api.url, serverId, admin)
    tunnel.send(
      dockerRequest('POST', `/v1.41/containers/create?name=${name('audited')}`, {
        Image: TEST_IMAGE,
        Cmd: ['true'],
        Env: ['PASSWORD=hunter2'],
      }),
    )
    await tunnel.waitFor('"Id"')
    tunnel.send(dockerRequest('GET', '/v1.41/containers/json'))
    await tunnel.waitFor('HTTP/1.1 200')
    tunnel.close()
    await tunnel.closed
    const { actions, text } = await dockerAudit(api.http, admin)
    expect(actions).toContainEqual(['DOCKER POST /v1.41/containers/create', 201, serverId])
    // Reading calls are not written one by one; the session is.
    expect(actions.some(([action]: string[]) => action?.includes('containers/json'))).toBe(false)
    expect(text).not.toMatch(/hunter2|name=/)
    const sessions = await api.http.get('/audit?action=/docker', { token: admin })
    expect(sessions.body.entries.map((e: { action: string }) => e.action)).toContain(
      'GET /servers/:id/docker',
    )
  })

  test("moves a hijacked attach's bytes both ways, and the client's end of input ends the container's", async () => {
    const id = docker('create', '-i', '--name', name('cat'), TEST_IMAGE, 'cat')
    const tunnel = await openTunnel(api.url, serverId, admin)
    tunnel.send(
      `POST /v1.41/containers/${id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n` +
        'Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    )
    await tunnel.waitFor('101 UPGRADED')
    docker('start', id)
    tunnel.send('hello through berth\n')
    await tunnel.waitFor('hello through berth')
    // Raw after the hijack: this is the container's input, not a request to follow.
    tunnel.send('GET not http\n')
    await tunnel.waitFor('GET not http')
    tunnel.eof()
    expect((await tunnel.closed).code).toBe(1000)
    expect(tunnel.frames.map((f) => f.type)).toContain('eof')
    expect(docker('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id)).toBe('exited 0')
  })

  test('bytes that are not HTTP get an error frame and a 1008 close', async () => {
    const tunnel = await openTunnel(api.url, serverId, admin)
    tunnel.send('hello docker\r\n\r\n')
    expect((await tunnel.closed).code).toBe(1008)
    expect(tunnel.frames).toContainEqual(
      expect.objectContaining({
        type: 'error',
        error: expect.objectContaining({ error: 'validation_error' }),
      }),
    )
    expect(tunnel.received().length).toBe(0)
  })
})

describe('who may open one', () => {
  test('a member or viewer is refused with 403, an unknown server is a 404, a plain GET a 400', async () => {
    for (const role of ['member', 'viewer'] as const) {
      const user = await createUser(api.http, admin, role)
      const { status, body } = await refused(user.token)
      expect(status).toBe(403)
      expect(body).toMatchObject({ error: 'forbidden', code: 'docker_forbidden', status: 403 })
    }
    expect((await refused(admin, 'srv_unknown')).status).toBe(404)
    const plain = await api.http.get(`/servers/${serverId}/docker`, { token: admin })
    expectErrorBody(plain, 400, 'validation_error')
    expect(plain.body.code).toBe('upgrade_required')
  })

  test('a server whose agent is not connected is a 503 at once', async () => {
    const created = await api.http.post('/servers', { token: admin, body: { name: name('offline') } })
    const { status, body } = await refused(admin, created.body.server.id)
    expect(status).toBe(503)
    expect(body.error).toBe('agent_offline')
  })

  test('an admin demoted to member loses an open connection with 4403', async () => {
    const other = await createUser(api.http, admin, 'admin')
    const tunnel = await openTunnel(api.url, serverId, other.token)
    tunnel.send(dockerRequest('GET', '/_ping'))
    await tunnel.waitFor('OK')
    const demoted = await api.http.patch(`/users/${other.id}`, { token: admin, body: { role: 'member' } })
    expect(demoted.status, demoted.text).toBe(200)
    expect((await tunnel.closed).code).toBe(4403)
    expect(tunnel.frames.at(-1)).toMatchObject({ type: 'error', error: { code: 'docker_forbidden' } })
  })
})
