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
const forged: HandWrittenAgent[] = []
const made: string[] = []

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})
afterEach(async () => {
  removeContainers(made.splice(0))
  for (const f of forged.splice(0)) f.close()
  await Promise.all(agents.splice(0).map((a) => a.stop('SIGKILL')))
})
afterAll(() => api?.stop())

/**
 * Not the Berth agent: a hand-written one that enrolls with a real enrollment token and speaks the
 * real protocol over the API's WebSocket, to send the frames a compromised agent could forge.
 */
interface HandWrittenAgent {
  serverId: string
  send(frame: Record<string, unknown>): void
  close(): void
}

async function handWrittenAgent(name: string): Promise<HandWrittenAgent> {
  const created = await api.http.post('/servers', { token: admin, body: { name } })
  expect(created.status, created.text).toBe(201)
  const enrolled = await api.http.post('/agent/enroll', { body: { token: created.body.enrollment.token } })
  expect(enrolled.status, enrolled.text).toBe(201)
  const ws = new WebSocket(`${api.url.replace(/^http/, 'ws')}/api/v1/agent/connect`, {
    headers: { Authorization: `Bearer ${enrolled.body.agent_token}` },
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve())
    ws.once('error', reject)
  })
  const send = (frame: Record<string, unknown>) => ws.send(JSON.stringify({ v: 1, ...frame }))
  send({
    type: 'hello',
    agentVersion: 'hand-written',
    hostname: name,
    arch: 'x64',
    os: 'linux',
    dockerVersion: null,
    cpus: 1,
    memoryBytes: 1,
  })
  const heartbeats = setInterval(() => send({ type: 'heartbeat', seq: 0 }), 200)
  const agent = {
    serverId: created.body.server.id as string,
    send,
    close: () => {
      clearInterval(heartbeats)
      ws.close()
    },
  }
  forged.push(agent)
  return agent
}

/** A container as an agent reports it in `event` frames. */
function summary(name: string, labels: Record<string, string>) {
  return {
    docker_id: randomBytes(32).toString('hex'),
    name,
    image: TEST_IMAGE,
    status: 'exited',
    exit_code: 0,
    health: 'none',
    created_at: Date.now(),
    started_at: null,
    finished_at: null,
    ports: [],
    labels,
  }
}

async function serverWithContainer(name: string) {
  const { serverId, agent } = await startServerWithAgent(api, admin, name)
  agents.push(agent)
  const res = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: { image: TEST_IMAGE, cmd: ['sleep', '300'], name: `sec-agents-${randomBytes(4).toString('hex')}` },
  })
  expect(res.status, res.text).toBe(201)
  made.push(res.body.container.docker_id)
  return { serverId, container: res.body.container as { id: string; name: string; docker_id: string } }
}

describe('an agent speaks only for its own server', () => {
  test("a container event labelled with another server's container id leaves that row alone", async () => {
    const a = await serverWithContainer('sec-agents-a')
    const b = await handWrittenAgent('sec-agents-b')
    const fake = summary('forged', { 'berth.id': a.container.id, 'berth.managed': 'true' })
    b.send({
      type: 'event',
      kind: 'container',
      at: Date.now(),
      data: { action: 'create', docker_id: fake.docker_id, container: fake },
    })
    // The report is about B's host: it shows there, under an id of B's own.
    const onB = await waitFor('the reported container on server B', async () => {
      const res = await api.http.get(`/servers/${b.serverId}/containers`, { token: admin })
      return res.body.containers?.find((c: { name: string }) => c.name === 'forged')
    })
    expect(onB.id).not.toBe(a.container.id)
    expect(onB.server_id).toBe(b.serverId)
    const onA = await api.http.get(`/servers/${a.serverId}/containers/${a.container.id}`, { token: admin })
    expect(onA.status, onA.text).toBe(200)
    expect(onA.body.container).toMatchObject({
      id: a.container.id,
      server_id: a.serverId,
      name: a.container.name,
      docker_id: a.container.docker_id,
      status: 'running',
    })
    const rows = await api.sql<{ server_id: string; docker_id: string }>(
      'select server_id, docker_id from containers where id = ?',
      [a.container.id],
    )
    expect(rows).toEqual([{ server_id: a.serverId, docker_id: a.container.docker_id }])
  })

  test("stats naming another server's container land only on the reporting server's own", async () => {
    const a = await serverWithContainer('sec-agents-stats-a')
    const b = await handWrittenAgent('sec-agents-stats-b')
    const own = summary('own', {})
    b.send({
      type: 'event',
      kind: 'container',
      at: Date.now(),
      data: { action: 'create', docker_id: own.docker_id, container: own },
    })
    const onB = await waitFor('the container on server B', async () => {
      const res = await api.http.get(`/servers/${b.serverId}/containers`, { token: admin })
      return res.body.containers?.find((c: { name: string }) => c.name === 'own')
    })
    const sample = (docker_id: string) => ({
      docker_id,
      at: Date.now(),
      cpu_pct: 99.5,
      cpu_limit: 1,
      mem_used: 4242,
      mem_limit: 8484,
      net_rx: 0,
      net_tx: 0,
      blk_read: 0,
      blk_write: 0,
      pids: 1,
    })
    b.send({ type: 'stats', samples: [sample(own.docker_id), sample(a.container.docker_id)] })
    // Both samples are stored in one write: once B's shows, A's would have too.
    await waitFor('the sample on server B', async () => {
      const res = await api.http.get(`/servers/${b.serverId}/containers/${onB.id}/stats/history`, {
        token: admin,
      })
      return res.body.samples?.some((s: { memory: { used: number } }) => s.memory.used === 4242)
    })
    const onA = await api.http.get(`/servers/${a.serverId}/containers/${a.container.id}/stats/history`, {
      token: admin,
    })
    expect(onA.status, onA.text).toBe(200)
    expect(onA.body.samples.some((s: { memory: { used: number } }) => s.memory.used === 4242)).toBe(false)
  })
})

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
