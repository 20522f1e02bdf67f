import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { BERTH_VERSION, CLOSE_REVOKED } from '@berth/shared'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Agent, type AgentOptions, REVOKED_MESSAGE, startAgent } from '../index.ts'
import { StandInApi } from '../testing/stand-in-api.ts'
import { StreamCredit } from './credit.ts'

// The agent runs for real against real Docker; a real ws server on 127.0.0.1 stands in for the API.

let api: StandInApi
let folder: string
let agents: Agent[]
let logLines: string[]

beforeEach(async () => {
  api = await StandInApi.start()
  folder = await mkdtemp(join(os.tmpdir(), 'berth-agent-'))
  agents = []
  logLines = []
})

afterEach(async () => {
  await Promise.all(agents.map((a) => a.stop()))
  await api.close()
  await rm(folder, { recursive: true, force: true })
})

function start(options: Partial<AgentOptions> = {}): Agent {
  const agent = startAgent({
    api: api.url,
    statePath: join(folder, 'agent.json'),
    name: 'test-host',
    backoff: { baseMs: 10, capMs: 50 },
    log: (line) => logLines.push(line),
    ...options,
  })
  agents.push(agent)
  return agent
}

describe('the agent against a stand-in API', () => {
  it('enrolls, keeps its agent token in a 0600 state file and says hello with real host facts', async () => {
    const agent = start({ token: api.addServer('srv_one') })
    const link = await api.link(0)
    const hello = await link.take('hello')

    expect(hello).toMatchObject({
      agentVersion: BERTH_VERSION,
      hostname: 'test-host',
      arch: process.arch,
      os: `${os.type()} ${os.release()}`,
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
    })
    expect(hello.dockerVersion).toMatch(/^\d+\.\d+/)
    expect(link.agentToken).toBe('agt_srv_one_0')
    const state = JSON.parse(await readFile(join(folder, 'agent.json'), 'utf8'))
    expect(state).toEqual({ api: api.url, server_id: 'srv_one', agent_token: 'agt_srv_one_0' })
    expect((await stat(join(folder, 'agent.json'))).mode & 0o777).toBe(0o600)
    expect((await stat(folder)).mode & 0o777).toBe(0o700)
    await expect.poll(() => agent.serverId()).toBe('srv_one')
    expect(logLines.join('\n')).not.toContain('agt_srv_one_0')
  })

  it('reuses the agent token in the state file without enrolling again', async () => {
    api.agentTokens.set('agt_kept', 'srv_kept')
    await writeFile(
      join(folder, 'agent.json'),
      JSON.stringify({ api: api.url, server_id: 'srv_kept', agent_token: 'agt_kept' }),
    )
    start({ token: 'enr_already_used' })
    const link = await api.link(0)
    await link.take('hello')
    expect(link.agentToken).toBe('agt_kept')
  })

  it('sends heartbeats at the interval the API names, counting up, and the API acks them', async () => {
    api.heartbeatMs = 40
    start({ token: api.addServer('srv_beat') })
    const link = await api.link(0)
    const first = await link.take('heartbeat')
    const second = await link.take('heartbeat')
    const third = await link.take('heartbeat')
    expect([first.seq, second.seq, third.seq]).toEqual([0, 1, 2])
    // Acked heartbeats keep the link: still the first connection.
    expect(api.links).toHaveLength(1)
  })

  it('answers a call with the result of the op', async () => {
    start({ token: api.addServer('srv_call') })
    const link = await api.link(0)
    await link.take('hello')
    link.send({ type: 'call', id: 'call_ping', op: 'docker.ping', args: {}, timeoutMs: 5_000 })
    const result = await link.take('result', (r) => r.id === 'call_ping')
    expect(result.ok).toBe(true)
    expect(result.ok && result.data).toEqual({ docker_ms: expect.any(Number) })
  })

  it('answers an unknown op and bad arguments with validation_error', async () => {
    start({ token: api.addServer('srv_bad') })
    const link = await api.link(0)
    await link.take('hello')
    link.send({ type: 'call', id: 'call_unknown', op: 'docker.explode', args: {}, timeoutMs: 5_000 })
    link.send({ type: 'call', id: 'call_args', op: 'docker.ping', args: { extra: 1 }, timeoutMs: 5_000 })
    const unknown = await link.take('result', (r) => r.id === 'call_unknown')
    const badArgs = await link.take('result', (r) => r.id === 'call_args')
    expect(unknown).toMatchObject({ ok: false, error: { kind: 'validation_error' } })
    expect(badArgs).toMatchObject({ ok: false, error: { kind: 'validation_error' } })
  })

  it('runs a call id once: a repeat while running gets one answer, a later repeat the same answer', async () => {
    start({ token: api.addServer('srv_dup') })
    const link = await api.link(0)
    await link.take('hello')
    const call = { type: 'call', id: 'call_twice', op: 'docker.ping', args: {}, timeoutMs: 5_000 } as const
    link.send(call)
    link.send(call)
    const first = await link.take('result', (r) => r.id === 'call_twice')
    // A call sent after the repeat is answered after it, so by then a second answer would have come.
    link.send({ type: 'call', id: 'call_after', op: 'docker.ping', args: {}, timeoutMs: 5_000 })
    await link.take('result', (r) => r.id === 'call_after')
    expect(link.count('result', (r) => r.type === 'result' && r.id === 'call_twice')).toBe(1)

    link.send(call)
    const again = await link.take('result', (r) => r.id === 'call_twice')
    // Two real pings would not take the same time to the microsecond: this is the remembered answer.
    expect(again).toEqual(first)
  })

  it('ignores invalid frames and stream frames of a later version, and keeps answering', async () => {
    start({ token: api.addServer('srv_odd') })
    const link = await api.link(0)
    await link.take('hello')
    link.socket.send('not json')
    link.socket.send(JSON.stringify({ v: 1, type: 'call', id: 'secret-args' }))
    link.send({ type: 'input', id: 'call_x', data: 'ls\n' })
    link.send({ type: 'resize', id: 'call_x', cols: 80, rows: 24 })
    link.send({ type: 'credit', id: 'call_x', bytes: 1024 })
    link.send({ type: 'cancel', id: 'call_nothing' })
    link.send({ type: 'call', id: 'call_still', op: 'docker.ping', args: {}, timeoutMs: 5_000 })
    expect(await link.take('result', (r) => r.id === 'call_still')).toMatchObject({ ok: true })
    expect(logLines.filter((l) => l.startsWith('ignored an invalid frame'))).toEqual([
      'ignored an invalid frame from the API (type unknown)',
      'ignored an invalid frame from the API (type "call")',
    ])
    expect(api.links).toHaveLength(1)
  })

  it('connects again after the API drops the connection', async () => {
    start({ token: api.addServer('srv_drop') })
    const first = await api.link(0)
    await first.take('hello')
    first.socket.terminate()
    const second = await api.link(1)
    expect((await second.take('hello')).hostname).toBe('test-host')
  })

  it('drops a link on which the API has gone silent for three heartbeats, and connects again', async () => {
    api.heartbeatMs = 30
    api.ackHeartbeats = false
    start({ token: api.addServer('srv_silent') })
    const first = await api.link(0)
    await first.take('hello')
    expect(await first.closed).toBe(1006)
    const second = await api.link(1)
    await second.take('hello')
    expect(logLines.some((l) => l.startsWith('heard nothing from the API for 90 ms'))).toBe(true)
  })

  it('stops for good with reason revoked when the upgrade is refused with 401', async () => {
    await writeFile(
      join(folder, 'agent.json'),
      JSON.stringify({ api: api.url, server_id: 'srv_gone', agent_token: 'agt_revoked' }),
    )
    const agent = start()
    expect(await agent.done).toEqual({ reason: 'revoked' })
    expect(api.refusals).toBe(1)
    expect(logLines).toContain(REVOKED_MESSAGE)
  })

  it('stops with reason revoked when the API closes the link with CLOSE_REVOKED', async () => {
    const agent = start({ token: api.addServer('srv_deleted') })
    const link = await api.link(0)
    await link.take('hello')
    link.socket.close(CLOSE_REVOKED, 'server deleted')
    expect(await agent.done).toEqual({ reason: 'revoked' })
    expect(api.links).toHaveLength(1)
  })

  it('enrolls again once when the stored agent token is refused and an enrollment token is given', async () => {
    await writeFile(
      join(folder, 'agent.json'),
      JSON.stringify({ api: api.url, server_id: 'srv_old', agent_token: 'agt_revoked' }),
    )
    start({ token: api.addServer('srv_new') })
    const link = await api.link(0)
    await link.take('hello')
    expect(api.refusals).toBe(1)
    const state = JSON.parse(await readFile(join(folder, 'agent.json'), 'utf8'))
    expect(state.server_id).toBe('srv_new')
  })

  it('fails with the API message when the enrollment token is refused', async () => {
    const agent = start({ token: 'enr_unknown' })
    await expect(agent.done).rejects.toThrow('the enrollment token is invalid, used or expired')
    expect(logLines.at(-1)).toContain('the enrollment token is invalid, used or expired')
  })

  it('stops on request: closes the link with 1000 and ends with reason stopped', async () => {
    const agent = start({ token: api.addServer('srv_stop') })
    const link = await api.link(0)
    await link.take('hello')
    await agent.stop()
    expect(await link.closed).toBe(1000)
    expect(await agent.done).toEqual({ reason: 'stopped' })
  })
})

describe('a stream’s credit', () => {
  it('sends within the window, waits past it, and goes on when credit comes back', async () => {
    const credit = new StreamCredit(100)
    const signal = new AbortController().signal
    await credit.take(60, signal)
    await credit.take(40, signal)
    let sent = false
    const next = credit.take(10, signal).then(() => {
      sent = true
    })
    await new Promise((r) => setTimeout(r, 20))
    expect(sent).toBe(false)
    credit.grant(60)
    await next
    expect(sent).toBe(true)
  })

  it('a chunk larger than the window goes alone; without a window nothing waits', async () => {
    const signal = new AbortController().signal
    await new StreamCredit(100).take(500, signal)
    const none = new StreamCredit(null)
    for (let i = 0; i < 100; i++) await none.take(1_000_000, signal)
  })

  it('a cancelled stream stops waiting', async () => {
    const credit = new StreamCredit(10)
    const controller = new AbortController()
    await credit.take(10, controller.signal)
    const waiting = credit.take(10, controller.signal)
    controller.abort()
    await waiting
  })
})
