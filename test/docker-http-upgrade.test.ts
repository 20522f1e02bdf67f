import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { dockerRequest } from './support/docker-tunnel.ts'
import { type AgentHost, startAgentHost } from './support/flows.ts'
import { waitFor } from './support/process.ts'

// `Upgrade: tcp` on the HTTP Docker endpoint (attach, exec start with a hijack), spoken over a
// raw connection as the docker CLI and Docker's SDKs do. The Node API hands the client's socket
// over; workerd drops Upgrade before the worker sees the request, which is then answered as a
// plain streamed one. This suite picks each runtime itself, so it runs in the Node pass only.

const run = Math.random().toString(36).slice(2, 7)
const basic = (token: string) => `Basic ${btoa(`ci:${token}`)}`

/** A raw connection to the API: what it received so far, and when the API ended it. */
function rawRequest(apiUrl: string, request: string) {
  const { hostname, port } = new URL(apiUrl)
  const socket = connect(Number(port), hostname)
  const chunks: Buffer[] = []
  socket.on('data', (data) => chunks.push(data))
  const ended = new Promise<void>((resolve) => socket.once('end', resolve))
  socket.write(request)
  const received = () => Buffer.concat(chunks).toString('latin1')
  return {
    socket,
    received,
    ended,
    waitFor: (text: string) =>
      waitFor(`the API to send ${JSON.stringify(text)}`, () =>
        received().includes(text) ? received() : undefined,
      ),
  }
}

/** A request to the HTTP endpoint asking to upgrade, with `Connection: Upgrade` as Docker clients send it. */
function upgradeRequest(
  serverId: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): string {
  return dockerRequest(method, `/api/v1/servers/${serverId}/docker-api${path}`, body).replace(
    'Host: docker\r\n',
    `Host: berth\r\nAuthorization: ${basic(token)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n`,
  )
}

/**
 * Runs a container named `name`, creates an exec of `cmd` in it through the endpoint, and starts
 * it over a raw connection that asks to upgrade.
 */
async function upgradedExec(host: AgentHost, name: string, cmd: string[], tty: boolean) {
  const { api, admin, serverId } = host
  docker('run', '-d', '--name', name, TEST_IMAGE, 'sleep', '300')
  const created = await fetch(
    `${api.url}/api/v1/servers/${serverId}/docker-api/v1.41/containers/${name}/exec`,
    {
      method: 'POST',
      headers: { Authorization: basic(admin), 'Content-Type': 'application/json' },
      body: JSON.stringify({ Cmd: cmd, AttachStdin: tty, AttachStdout: true, AttachStderr: true, Tty: tty }),
    },
  )
  expect(created.status).toBe(201)
  const { Id } = await created.json()
  const start = { Detach: false, Tty: tty }
  return {
    id: Id as string,
    raw: rawRequest(api.url, upgradeRequest(serverId, admin, 'POST', `/v1.41/exec/${Id}/start`, start)),
  }
}

describe('on Node', () => {
  let host: AgentHost

  beforeAll(async () => {
    host = await startAgentHost('upgrade-host', `t${run}-`, { target: 'node' })
  })
  afterAll(() => host?.stop())

  test("exec start answers 101, carries stdin both ways, and the client's end ends the process", async () => {
    const { api, admin, serverId } = host
    const { id, raw } = await upgradedExec(host, `t${run}-exec`, ['cat'], true)
    const head = await raw.waitFor('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/)
    expect(head).toMatch(/\r\nUpgrade: tcp\r\n/i)
    expect(head).toMatch(/\r\nContent-Type: application\/vnd\.docker\.raw-stream\r\n/i)
    raw.socket.write('hello over a hijack\n')
    await raw.waitFor('hello over a hijack')
    // A tty's end of input: ^D, then the client's half-close.
    raw.socket.write('\u0004')
    raw.socket.end()
    await raw.ended
    const inspected = await waitFor('the exec to end', async () => {
      const res = await fetch(`${api.url}/api/v1/servers/${serverId}/docker-api/v1.41/exec/${id}/json`, {
        headers: { Authorization: basic(admin) },
      })
      const body = await res.json()
      return body.Running === false ? body : undefined
    })
    expect(inspected.ExitCode).toBe(0)
  })

  test("an attach Docker refuses is Docker's answer, and the connection closes", async () => {
    const { api, admin, serverId } = host
    const raw = rawRequest(
      api.url,
      upgradeRequest(serverId, admin, 'POST', `/v1.41/containers/t${run}-missing/attach?stream=1&stdout=1`),
    )
    await raw.ended
    expect(raw.received()).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/)
    expect(raw.received()).toMatch(/\r\nConnection: close\r\n/)
    expect(raw.received()).toContain(`No such container: t${run}-missing`)
  })

  test('an upgrade to a server whose agent is not connected is the documented 503', async () => {
    const { api, admin } = host
    const created = await api.http.post('/servers', { token: admin, body: { name: `t${run}-offline` } })
    const raw = rawRequest(
      api.url,
      upgradeRequest(created.body.server.id, admin, 'POST', '/v1.41/containers/x/attach?stream=1'),
    )
    await raw.ended
    const [head = '', body = ''] = raw.received().split('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 503 /)
    expect(JSON.parse(body)).toMatchObject({
      error: 'agent_offline',
      status: 503,
      request_id: expect.any(String),
    })
  })
})

describe('on workerd', () => {
  let host: AgentHost

  beforeAll(async () => {
    host = await startAgentHost('upgrade-worker', `t${run}-w`, { target: 'workerd' })
  })
  afterAll(() => host?.stop())

  test('an exec start asking to upgrade is answered as a plain streamed response: workerd drops Upgrade', async () => {
    const { raw } = await upgradedExec(host, `t${run}-wexec`, ['echo', 'from a worker'], false)
    const seen = await raw.waitFor('from a worker')
    raw.socket.destroy()
    expect(seen).toMatch(/^HTTP\/1\.1 200 /)
    expect(seen).toMatch(/\r\ncontent-type: application\/vnd\.docker\.raw-stream\r\n/i)
  })
})
