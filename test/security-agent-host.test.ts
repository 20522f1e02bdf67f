import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import {
  createUser,
  registerAdmin,
  runSeenContainer,
  startServerWithAgent,
  waitForServerStatus,
} from './support/flows.ts'
import { type Child, ROOT, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

let api: ApiTarget
let admin: string
const agents: Child[] = []
const made: string[] = []

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})
afterEach(async () => {
  removeContainers(made.splice(0))
  await Promise.all(agents.splice(0).map((a) => a.stop('SIGKILL')))
})
afterAll(() => api?.stop())

// The agent's own container, its state and its host stay out of reach below admin.

/**
 * The real agent bundle run the way the enrollment's `docker run` form runs it: in a container
 * with the Docker socket and its state in a named volume. The host's node is mounted in, since no
 * registry is reachable for a node image.
 */
async function agentInContainer(name: string) {
  const created = await api.http.post('/servers', { token: admin, body: { name } })
  expect(created.status, created.text).toBe(201)
  const serverId: string = created.body.server.id
  const suffix = randomBytes(4).toString('hex')
  const stateVolume = `sec-agents-state-${suffix}`
  const id = docker(
    'run',
    '-d',
    '--name',
    `sec-agents-agent-${suffix}`,
    '--network',
    'host',
    ...['-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro'],
    ...['-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${stateVolume}:/var/lib/berth`],
    ...['-v', `${ROOT}packages/agent/dist/berth-agent.mjs:/opt/berth/berth-agent.mjs:ro`],
    TEST_IMAGE,
    ...['/usr/bin/node', '/opt/berth/berth-agent.mjs', '--api', api.url],
    ...['--token', created.body.enrollment.token, '--state', '/var/lib/berth/agent.json'],
  )
  cleanups.push(() => {
    removeContainers([id])
    docker('volume', 'rm', '-f', stateVolume)
  })
  await waitForServerStatus(api.http, admin, serverId, 'online')
  await waitFor('the agent container in the API', async () => {
    const res = await api.http.get(`/servers/${serverId}/containers/${id}`, { token: admin })
    return res.status === 200
  })
  return { serverId, id, stateVolume }
}

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function expectRefused(res: { status: number; body: any; text: string }, code: string) {
  expect(res.status, res.text).toBe(403)
  expect(res.body).toMatchObject({ error: 'forbidden', code, status: 403 })
  expect(res.body.request_id).toMatch(/^req_/)
  expect(res.text).not.toContain('agent_token')
  expect(res.text).not.toContain('berth_agt_')
}

describe("the agent's own container and state stay out of reach below admin", () => {
  test("a viewer cannot download the agent's state file through the files route", async () => {
    const agent = await agentInContainer('sec-agents-files')
    const viewer = await createUser(api.http, admin, 'viewer')
    const path = `/servers/${agent.serverId}/containers/${agent.id}/files?path=${encodeURIComponent('/var/lib/berth/agent.json')}`
    expectRefused(await api.http.get(path, { token: viewer.token }), 'agent_container_forbidden')
    expectRefused(
      await api.http.get(`/servers/${agent.serverId}/containers/${agent.id}`, { token: viewer.token }),
      'agent_container_forbidden',
    )
    // An admin still reaches it.
    const asAdmin = await api.http.get(`/servers/${agent.serverId}/containers/${agent.id}`, { token: admin })
    expect(asAdmin.status, asAdmin.text).toBe(200)
  })

  test("a member cannot act on, change, exec in or remove the agent's container", async () => {
    const agent = await agentInContainer('sec-agents-actions')
    const member = await createUser(api.http, admin, 'member')
    const base = `/servers/${agent.serverId}/containers/${agent.id}`
    const token = member.token
    for (const res of [
      await api.http.post(`${base}/stop`, { token }),
      await api.http.post(`${base}/kill`, { token }),
      await api.http.patch(base, { token, body: { env: { X: '1' } } }),
      await api.http.request('PUT', `${base}/ports`, { token, body: { ports: [] } }),
      await api.http.get(`${base}/logs`, { token }),
      await api.http.get(`${base}/git/head?path=/`, { token }),
      await api.http.post(`${base}/git/pull?path=/`, { token }),
      await api.http.delete(`${base}?force=true`, { token }),
    ]) {
      expectRefused(res, 'agent_container_forbidden')
    }
    const exec = new WebSocket(
      `${api.url.replace(/^http/, 'ws')}/api/v1${base}/exec?cmd=${encodeURIComponent('cat /var/lib/berth/agent.json')}`,
      {
        headers: { Authorization: `Bearer ${token}` },
      },
    )
    exec.on('error', () => {})
    const status = await new Promise<number>((resolve) => {
      exec.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      exec.once('open', () => resolve(101))
    })
    exec.terminate()
    expect(status).toBe(403)
    expect(docker('inspect', '--format', '{{.State.Running}}', agent.id)).toBe('true')
    const server = await api.http.get(`/servers/${agent.serverId}`, { token: admin })
    expect(server.body.server.status).toBe('online')
  })

  test("a member cannot mount or remove the volume that holds the agent's state", async () => {
    const agent = await agentInContainer('sec-agents-volume')
    const member = await createUser(api.http, admin, 'member')
    const thief = `sec-agents-thief-${randomBytes(4).toString('hex')}`
    cleanups.unshift(() => removeContainers([thief]))
    const created = await api.http.post(`/servers/${agent.serverId}/containers`, {
      token: member.token,
      body: {
        image: TEST_IMAGE,
        name: thief,
        cmd: ['cat', '/stolen/agent.json'],
        volumes: [{ source: agent.stateVolume, target: '/stolen' }],
      },
    })
    expectRefused(created, 'agent_volume_forbidden')
    expect(created.body.details).toEqual({ volume: agent.stateVolume })
    expect(docker('ps', '-a', '--filter', `name=^${thief}$`, '--format', '{{.ID}}')).toBe('')
    expectRefused(
      await api.http.delete(`/servers/${agent.serverId}/volumes/${agent.stateVolume}?force=true`, {
        token: member.token,
      }),
      'agent_volume_forbidden',
    )
    expect(docker('volume', 'inspect', '--format', '{{.Name}}', agent.stateVolume)).toBe(agent.stateVolume)
  })
})

describe('a container that reaches its host is for admins only', () => {
  /** A container an admin ran with the Docker CLI, seen by the API through its real agent. */
  async function hostContainer(name: string, ...run: string[]) {
    const { serverId, agent } = await startServerWithAgent(api, admin, name)
    agents.push(agent)
    const id = await runSeenContainer(
      api,
      admin,
      serverId,
      '--name',
      `${name}-${randomBytes(4).toString('hex')}`,
      ...run,
    )
    made.push(id)
    return { serverId, id, base: `/servers/${serverId}/containers/${id}` }
  }

  test("a member cannot read the host's files through a container with a host folder bound in", async () => {
    const folder = mkdtempSync(join(os.tmpdir(), 'sec-agents-host-'))
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }))
    const secret = `host secret ${randomBytes(8).toString('hex')}`
    writeFileSync(join(folder, 'secret.txt'), secret)
    const c = await hostContainer('sec-agents-bind', '-v', `${folder}:/host`, TEST_IMAGE, 'sleep', '300')
    const member = await createUser(api.http, admin, 'member')
    const listed = await api.http.get(`/servers/${c.serverId}/containers`, { token: member.token })
    expect(
      listed.body.containers.find((x: { docker_id: string }) => x.docker_id === c.id)?.host_access,
    ).toEqual(['bind'])
    const token = member.token
    for (const res of [
      await api.http.get(`${c.base}/files?path=/host/secret.txt`, { token }),
      await api.http.patch(c.base, { token, body: { image: TEST_IMAGE, env: { X: '1' } } }),
      await api.http.post(`${c.base}/restart`, { token }),
    ]) {
      expectRefused(res, 'host_container_forbidden')
      expect(res.body.details).toEqual({ host_access: ['bind'] })
      expect(res.text).not.toContain(secret)
    }
    // Not recreated: the same container still runs.
    expect(docker('inspect', '--format', '{{.State.Running}}', c.id)).toBe('true')
    const asAdmin = await api.http.get(`${c.base}/files?path=/host/secret.txt`, { token: admin })
    expect(asAdmin.status, asAdmin.text).toBe(200)
    expect(asAdmin.text).toBe(secret)
  })

  test("a member cannot exec in a container with added capabilities in the host's pid namespace", async () => {
    const c = await hostContainer(
      'sec-agents-caps',
      '--cap-add=SYS_ADMIN',
      '--pid=host',
      TEST_IMAGE,
      'sleep',
      '300',
    )
    const member = await createUser(api.http, admin, 'member')
    const exec = new WebSocket(
      `${api.url.replace(/^http/, 'ws')}/api/v1${c.base}/exec?cmd=${encodeURIComponent('true')}`,
      { headers: { Authorization: `Bearer ${member.token}` } },
    )
    exec.on('error', () => {})
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      exec.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += String(d)
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      exec.once('open', () => resolve({ status: 101, body: '' }))
    })
    exec.terminate()
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body)).toMatchObject({
      error: 'forbidden',
      code: 'host_container_forbidden',
      details: { host_access: ['pid=host', 'cap_add'] },
    })
  })
})

describe("what a member creates stays out of its host's namespaces and folders", () => {
  test("a member's container gets neither the host's network nor another container's", async () => {
    const { serverId, agent } = await startServerWithAgent(api, admin, 'sec-agents-net')
    agents.push(agent)
    const member = await createUser(api.http, admin, 'member')
    const name = `sec-agents-net-${randomBytes(4).toString('hex')}`
    cleanups.push(() => removeContainers([name]))
    for (const network of ['host', `container:${name}`]) {
      const res = await api.http.post(`/servers/${serverId}/containers`, {
        token: member.token,
        body: { image: TEST_IMAGE, name, cmd: ['sleep', '300'], network },
      })
      expectRefused(res, 'host_access_forbidden')
      expect(res.body.details).toEqual({ network })
      expect(docker('ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.ID}}')).toBe('')
    }
  })

  test('a member cannot mount a volume whose options bind a folder of the host', async () => {
    const { serverId, agent } = await startServerWithAgent(api, admin, 'sec-agents-bindvol')
    agents.push(agent)
    const folder = mkdtempSync(join(os.tmpdir(), 'sec-agents-bindvol-'))
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }))
    const volume = `sec-agents-bindvol-${randomBytes(4).toString('hex')}`
    docker('volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${folder}`, volume)
    const name = `sec-agents-writer-${randomBytes(4).toString('hex')}`
    cleanups.push(() => {
      removeContainers([name])
      docker('volume', 'rm', '-f', volume)
    })
    const member = await createUser(api.http, admin, 'member')
    const res = await api.http.post(`/servers/${serverId}/containers`, {
      token: member.token,
      body: {
        image: TEST_IMAGE,
        name,
        cmd: ['touch', '/mnt/marker'],
        volumes: [{ source: volume, target: '/mnt' }],
      },
    })
    expectRefused(res, 'host_access_forbidden')
    expect(res.body.details).toEqual({ volumes: [volume] })
    expect(docker('ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.ID}}')).toBe('')
    expect(readdirSync(folder)).toEqual([])
  })
})
