import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import { startAgentProcess } from './support/agent.ts'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// workerd only (scripts/test.sh runs it in the workerd pass; test/vitest.config.ts keeps it out of
// the Node pass). workerd evicts a Durable Object whose only activity is a hibernatable WebSocket
// 10 s after its last event (server.c++, ActorContainer::handleShutdown: a fixed timeout, not
// configurable): the AgentHub instance is dropped, and the next event constructs a new one that
// rebuilds the AgentLink from the socket's attachment. Heartbeats and stats are set far apart so the
// agent's socket goes quiet, and the DevTools inspector `wrangler dev` serves counts AgentHub
// constructions (a breakpoint on its first field initializer), so the eviction is seen, not assumed.

/** workerd's hibernation timeout, and a margin for its timer and a loaded machine. */
const EVICTED_AFTER_MS = 10_000
const IDLE_MS = EVICTED_AFTER_MS + 3000
const ROUNDS = 4

let api: ApiTarget
let admin: string
let inspector: Inspector
let agent: Child | undefined

beforeAll(async () => {
  api = await startApi({
    target: 'workerd',
    env: { BERTH_HEARTBEAT_MS: '60000', BERTH_STATS_INTERVAL_MS: '600000' },
  })
  inspector = await Inspector.attach(api)
  admin = await registerAdmin(api.http)
})
afterAll(async () => {
  inspector?.close()
  await agent?.stop('SIGKILL')
  await api?.stop()
})

test('an evicted AgentHub answers a call over the same agent socket, rebuilt from its attachment', async () => {
  const res = await api.http.post('/servers', { token: admin, body: { name: 'sleeper' } })
  expect(res.status, res.text).toBe(201)
  const serverId: string = res.body.server.id
  agent = startAgentProcess({
    api: api.url,
    token: res.body.enrollment.token,
    stateDir: mkdtempSync(join(os.tmpdir(), 'berth-agent-')),
  })
  await waitForServerStatus(api.http, admin, serverId, 'online')
  const validate = async () => {
    const v = await api.http.post(`/servers/${serverId}/validate`, { token: admin })
    expect(v.status, v.text).toBe(200)
    expect(v.body.validation.ok).toBe(true)
  }
  expect(inspector.constructions).toBe(1)

  // Awake: a call well inside the timeout reaches the same instance.
  await validate()
  expect(inspector.constructions).toBe(1)

  // Idle past the timeout: the object is evicted; the call wakes a new instance. The agent also
  // reports every container event of this Docker Engine, so other suites' containers can keep the
  // socket busy: a few rounds are allowed, and any new construction means an eviction came first.
  let evicted = false
  for (let round = 0; round < ROUNDS && !evicted; round++) {
    await sleep(IDLE_MS)
    await validate()
    evicted = inspector.constructions > 1
  }
  expect(evicted, `no eviction: the agent's socket was never quiet for ${EVICTED_AFTER_MS} ms`).toBe(true)
  const server = await api.http.get(`/servers/${serverId}`, { token: admin })
  expect(server.body.server.status).toBe('online')

  // The agent kept its one connection all along.
  expect(agent.running).toBe(true)
  expect(agent.output.match(/connected to the API at/g)).toHaveLength(1)
  expect(agent.output).not.toMatch(/connecting to the API again|the link to the API (closed|failed)/)
}, 120_000)

/** A DevTools connection to the worker that counts AgentHub constructions. */
class Inspector {
  constructions = 0
  private next = 0
  private readonly pending = new Map<number, (result: Record<string, unknown>) => void>()

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data))
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.result ?? {})
      else if (msg.method === 'Debugger.paused') {
        if (msg.params.hitBreakpoints?.length) this.constructions++
        void this.send('Debugger.resume')
      }
    })
  }

  static async attach(api: ApiTarget): Promise<Inspector> {
    if (!api.inspectorUrl) throw new Error('the API has no inspector (not the workerd target)')
    const targets = (await (await fetch(`${api.inspectorUrl}/json`)).json()) as {
      webSocketDebuggerUrl: string
    }[]
    const url = targets[0]?.webSocketDebuggerUrl
    if (!url) throw new Error('wrangler dev lists no inspector target')
    const ws = new WebSocket(url)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const inspector = new Inspector(ws)
    const scripts: string[] = []
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data))
      if (msg.method === 'Debugger.scriptParsed') scripts.push(msg.params.scriptId)
    })
    await inspector.send('Debugger.enable')
    // The scripts already loaded are announced after enabling, one message each: read each as it comes.
    const read = new Set<string>()
    const hub = await waitFor('the AgentHub class among the worker scripts', async () => {
      for (const scriptId of scripts.filter((id) => !read.has(id))) {
        read.add(scriptId)
        const { scriptSource = '' } = (await inspector.send('Debugger.getScriptSource', { scriptId })) as {
          scriptSource?: string
        }
        const lines = scriptSource.split('\n')
        const at = lines.findIndex((line) => /\bAgentHub = class\b/.test(line))
        if (at >= 0) return { scriptId, lines, at }
      }
      return undefined
    })
    const field = hub.lines.findIndex((line, i) => i > hub.at && /^\s+entries = /.test(line))
    if (field < 0) throw new Error('no `entries` field after `AgentHub = class` in the worker bundle')
    const bp = await inspector.send('Debugger.setBreakpoint', {
      location: { scriptId: hub.scriptId, lineNumber: field },
    })
    if (!bp.breakpointId) throw new Error(`cannot set a breakpoint: ${JSON.stringify(bp)}`)
    return inspector
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.next
    return new Promise((resolve) => {
      this.pending.set(id, (result) => {
        this.pending.delete(id)
        resolve(result)
      })
      this.ws.send(JSON.stringify({ id, method, params }))
    })
  }

  close(): void {
    this.ws.close()
  }
}
