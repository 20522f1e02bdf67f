import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
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

async function handWrittenAgent(
  name: string,
  hello: Record<string, unknown> = {},
): Promise<HandWrittenAgent> {
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
    ...hello,
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

/** Reports a new container through `agent` and waits until the API lists it on the agent's server. */
async function reportContainer(agent: HandWrittenAgent, name: string) {
  const reported = summary(name, {})
  agent.send({
    type: 'event',
    kind: 'container',
    at: Date.now(),
    data: { action: 'create', docker_id: reported.docker_id, container: reported },
  })
  const row = await waitFor(`the container ${name} on its server`, async () => {
    const res = await api.http.get(`/servers/${agent.serverId}/containers`, { token: admin })
    return res.body.containers?.find((c: { name: string }) => c.name === name)
  })
  return { reported, row }
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
    const { reported: own, row: onB } = await reportContainer(b, 'own')
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

describe("an agent's report of its host's Caddy", () => {
  const CADDY = { kind: 'caddy', version: 'v2.6.2' }
  const serverOf = async (id: string) => (await api.http.get(`/servers/${id}`, { token: admin })).body.server

  test('the hello and proxy.state events that parse are shown; others change nothing', async () => {
    const agent = await handWrittenAgent('sec-agents-caddy', { proxy: CADDY, ipv4: '198.51.100.4' })
    await waitFor('the hello proxy', async () => (await serverOf(agent.serverId))?.proxy?.kind === 'caddy')
    expect(await serverOf(agent.serverId)).toMatchObject({ proxy: CADDY, ipv4: '198.51.100.4' })
    for (const data of [{ proxy: { kind: 'nginx', version: '1' } }, { proxy: 'yes' }, {}]) {
      agent.send({ type: 'event', kind: 'proxy.state', at: Date.now(), data })
    }
    // Frames are recorded in order: once the container shows, the events before it were taken in.
    await reportContainer(agent, 'after-proxy-events')
    expect((await serverOf(agent.serverId)).proxy).toEqual(CADDY)
    agent.send({ type: 'event', kind: 'proxy.state', at: Date.now(), data: { proxy: null } })
    await waitFor('the Caddy to be gone', async () => (await serverOf(agent.serverId))?.proxy === null)
  })
})
