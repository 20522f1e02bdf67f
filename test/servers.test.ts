import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { startAgentProcess } from './support/agent.ts'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { waitFor } from './support/process.ts'
import { type ApiTarget, startApi, TEST_HEARTBEAT_MS } from './support/target.ts'

const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim()

let api: ApiTarget
let admin: string
const agents: Child[] = []

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop('SIGKILL')))
})
afterAll(() => api?.stop())

async function newServer(name: string) {
  const res = await api.http.post('/servers', { token: admin, body: { name } })
  expect(res.status, res.text).toBe(201)
  return res.body as {
    server: { id: string }
    enrollment: { token: string; expires_at: string; commands: Record<string, string> }
  }
}

function runAgent(
  token: string | undefined,
  stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-')),
  extra: { name?: string; env?: Record<string, string> } = {},
) {
  const agent = startAgentProcess({ api: api.url, token, stateDir, ...extra })
  agents.push(agent)
  return { agent, stateDir }
}

/** Offline must be seen within three heartbeat intervals; the rest is the watchdog's tick and polling. */
const OFFLINE_WITHIN_MS = 3 * TEST_HEARTBEAT_MS + TEST_HEARTBEAT_MS + 500

describe('enrollment', () => {
  test('a new server gets a one-time token and commands ready to paste', async () => {
    const { server, enrollment } = await newServer('fresh')
    expect(server).toMatchObject({ name: 'fresh', status: 'pending', last_seen_at: null })
    expect(enrollment.token).toMatch(/^berth_enr_/)
    const ttl = Date.parse(enrollment.expires_at) - Date.now()
    expect(ttl).toBeGreaterThan(3500_000)
    expect(ttl).toBeLessThanOrEqual(3600_000)
    for (const kind of ['node', 'npm', 'docker', 'systemd']) {
      expect(enrollment.commands[kind]).toContain(`--api ${api.url}`)
      expect(enrollment.commands[kind]).toContain(`--token ${enrollment.token}`)
    }
    expect(enrollment.commands.docker).toContain('/var/run/docker.sock')
    expect(enrollment.commands.docker).toContain('--pid=host')
    expect(enrollment.commands.docker).toContain('--network host')
    expect(enrollment.commands.systemd).toContain('[Service]')
    const stored = JSON.stringify(await api.sql('select * from enrollment_tokens'))
    expect(stored).not.toContain(enrollment.token)
  })

  test('the agent enrolls, comes online with what it reported, and the token cannot be used again', async () => {
    const { server, enrollment } = await newServer('web-1')
    const { stateDir } = runAgent(enrollment.token, undefined, { name: 'web-1.example' })
    const online = await waitForServerStatus(api.http, admin, server.id, 'online')
    expect(online.agent).toMatchObject({
      hostname: 'web-1.example',
      arch: process.arch,
      docker_version: dockerVersion,
      cpus: os.cpus().length,
      version: expect.any(String),
    })
    expect(online.agent.os).toContain(os.type())
    expect(Date.now() - Date.parse(online.last_seen_at)).toBeLessThan(5000)

    const state = join(stateDir, 'agent.json')
    expect(statSync(state).mode & 0o777).toBe(0o600)
    const saved = readFileSync(state, 'utf8')
    expect(saved).toContain('berth_agt_')
    expect(saved).not.toContain(enrollment.token)

    const again = await api.http.post('/agent/enroll', { body: { token: enrollment.token } })
    expect(again.status).toBe(401)
    expect(again.body.code).toBe('invalid_enrollment_token')
    expect((await api.http.get('/health')).body.services.agents_online).toBeGreaterThanOrEqual(1)
  })

  test('rotating the enrollment token makes the old one useless', async () => {
    const { server, enrollment } = await newServer('rotated')
    const rotated = await api.http.post(`/servers/${server.id}/enrollment`, { token: admin, body: {} })
    expect(rotated.status).toBe(201)
    expect(rotated.body.enrollment.token).not.toBe(enrollment.token)
    expect((await api.http.post('/agent/enroll', { body: { token: enrollment.token } })).status).toBe(401)
    const ok = await api.http.post('/agent/enroll', { body: { token: rotated.body.enrollment.token } })
    expect(ok.status).toBe(201)
    expect(ok.body).toEqual({ server_id: server.id, agent_token: expect.stringMatching(/^berth_agt_/) })
  })

  test('an expired enrollment token is refused', async () => {
    const created = await api.http.post('/servers', {
      token: admin,
      body: { name: 'expiring', enrollment_ttl_s: 60 },
    })
    await api.sql('update enrollment_tokens set expires_at = ? where server_id = ?', [
      Date.now() - 1,
      created.body.server.id,
    ])
    const res = await api.http.post('/agent/enroll', { body: { token: created.body.enrollment.token } })
    expect(res.status).toBe(401)
  })
})

describe('a connected server', () => {
  test('validate makes a real round trip to the agent and its Docker Engine', async () => {
    const { server, enrollment } = await newServer('validated')
    runAgent(enrollment.token)
    await waitForServerStatus(api.http, admin, server.id, 'online')
    const res = await api.http.post(`/servers/${server.id}/validate`, { token: admin })
    expect(res.status, res.text).toBe(200)
    expect(res.body.validation).toEqual({
      ok: true,
      round_trip_ms: expect.any(Number),
      docker_ms: expect.any(Number),
    })
    expect(res.body.validation.round_trip_ms).toBeGreaterThan(0)
    expect(res.body.validation.round_trip_ms).toBeGreaterThanOrEqual(res.body.validation.docker_ms)
  })

  test('resources reports the host as it is', async () => {
    const { server, enrollment } = await newServer('measured')
    runAgent(enrollment.token)
    await waitForServerStatus(api.http, admin, server.id, 'online')
    // Other suites build and remove images while this runs: read the engine's count before and
    // after the request and keep only a reading taken while it held still.
    const dockerImages = () => Number(execFileSync('docker', ['info', '--format', '{{.Images}}']).toString())
    let res = await api.http.get(`/servers/${server.id}/resources`, { token: admin })
    let images = Number.NaN
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = dockerImages()
      res = await api.http.get(`/servers/${server.id}/resources`, { token: admin })
      if (before === dockerImages()) {
        images = before
        break
      }
    }
    expect(res.status, res.text).toBe(200)
    expect(images, 'the engine held its image count still for one request').not.toBeNaN()
    const r = res.body.resources
    expect(r.cpus).toBe(os.cpus().length)
    expect(r.memory.total).toBe(os.totalmem())
    expect(r.memory.used).toBeGreaterThan(0)
    expect(r.memory.used + r.memory.free).toBe(r.memory.total)
    expect(r.disk.total).toBeGreaterThan(r.disk.free)
    expect(r.load).toHaveLength(3)
    expect(r.docker.images).toBe(images)
  })

  test('an agent whose Docker Engine is unreachable answers with a 502 agent_error', async () => {
    const { server, enrollment } = await newServer('no-docker')
    runAgent(enrollment.token, undefined, { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    const online = await waitForServerStatus(api.http, admin, server.id, 'online')
    expect(online.agent.docker_version).toBeNull()
    const res = await api.http.post(`/servers/${server.id}/validate`, { token: admin })
    expect(res.status).toBe(502)
    expect(res.body.error).toBe('agent_error')
    expect(res.body.details.message).toEqual(expect.any(String))
  })

  test('stopping the agent takes the server offline within three heartbeats; calls are 503', async () => {
    const { server, enrollment } = await newServer('stopped')
    const { agent } = runAgent(enrollment.token)
    await waitForServerStatus(api.http, admin, server.id, 'online')
    expect(await agent.stop('SIGTERM')).toBe(0)
    await waitForServerStatus(api.http, admin, server.id, 'offline', OFFLINE_WITHIN_MS)
    const res = await api.http.post(`/servers/${server.id}/validate`, { token: admin })
    expect(res.status).toBe(503)
    expect(res.body.error).toBe('agent_offline')
    expect((await api.http.get(`/servers/${server.id}/resources`, { token: admin })).status).toBe(503)
  })

  test('an agent that stops answering is dropped within three heartbeats and comes back by itself', async () => {
    const { server, enrollment } = await newServer('frozen')
    const { agent } = runAgent(enrollment.token)
    await waitForServerStatus(api.http, admin, server.id, 'online')
    agent.proc.kill('SIGSTOP')
    try {
      await waitForServerStatus(api.http, admin, server.id, 'offline', OFFLINE_WITHIN_MS)
      expect((await api.http.post(`/servers/${server.id}/validate`, { token: admin })).status).toBe(503)
    } finally {
      agent.proc.kill('SIGCONT')
    }
    await waitForServerStatus(api.http, admin, server.id, 'online', 20_000)
    expect((await api.http.post(`/servers/${server.id}/validate`, { token: admin })).status).toBe(200)
  })

  test('deleting the server disconnects its agent, which stops, and its token is refused', async () => {
    const { server, enrollment } = await newServer('doomed')
    const { agent, stateDir } = runAgent(enrollment.token)
    await waitForServerStatus(api.http, admin, server.id, 'online')
    const agentToken = JSON.parse(readFileSync(join(stateDir, 'agent.json'), 'utf8')).agent_token as string

    expect((await api.http.delete(`/servers/${server.id}`, { token: admin })).status).toBe(204)
    expect(await waitFor('the agent to exit', () => (agent.running ? undefined : agent.exited), 10_000)).toBe(
      1,
    )
    expect(agent.output).toMatch(/revoked|deleted/)
    expect(agent.output).not.toContain(agentToken)
    expect((await api.http.get(`/servers/${server.id}`, { token: admin })).status).toBe(404)

    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/agent/connect`, {
        headers: { Authorization: `Bearer ${agentToken}` },
      })
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => reject(new Error('a deleted server’s agent token was accepted')))
      ws.on('error', () => {})
    })
    expect(status).toBe(401)
  })
})

test('a call with no answer in time is a 504', async () => {
  const slow = await startApi({ env: { BERTH_CALL_TIMEOUT_MS: '200', BERTH_HEARTBEAT_MS: '5000' } })
  const token = await registerAdmin(slow.http)
  const created = await slow.http.post('/servers', { token, body: { name: 'sleepy' } })
  const agent = startAgentProcess({
    api: slow.url,
    token: created.body.enrollment.token,
    stateDir: mkdtempSync(join(os.tmpdir(), 'berth-agent-')),
  })
  agents.push(agent)
  try {
    await waitForServerStatus(slow.http, token, created.body.server.id, 'online')
    agent.proc.kill('SIGSTOP')
    const res = await slow.http.post(`/servers/${created.body.server.id}/validate`, { token })
    expect(res.status).toBe(504)
    expect(res.body.error).toBe('timeout')
    agent.proc.kill('SIGCONT')
  } finally {
    await slow.stop()
  }
})

test('after the API is killed and started again, agents reconnect by themselves', async () => {
  const { server, enrollment } = await newServer('survivor')
  const { agent } = runAgent(enrollment.token)
  await waitForServerStatus(api.http, admin, server.id, 'online')
  await api.kill()
  const restartedAt = Date.now()
  await api.restart()
  await waitFor(
    'the agent to say hello to the new API process',
    async () => {
      const { body } = await api.http.get(`/servers/${server.id}`, { token: admin })
      return body.server.status === 'online' && Date.parse(body.server.last_seen_at) > restartedAt
    },
    30_000,
  )
  const res = await api.http.post(`/servers/${server.id}/validate`, { token: admin })
  expect(res.status).toBe(200)
  expect(agent.running).toBe(true)
})
