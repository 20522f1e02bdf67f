import { totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { AGENT_PATHS, decodeFrame, encodeFrame, type Health, toAgent } from '@berth/shared'
import WebSocket from 'ws'
import { registerAdmin } from '../test/support/flows.ts'
import {
  cpuSeconds,
  createServer,
  enroll,
  fmt,
  medianRssKb,
  pool,
  printTable,
  runBench,
  sleep,
  startApi,
  summarize,
  verdict,
  waitFor,
} from './support.ts'

// Agents per API process: N protocol-level agents (real `ws` clients speaking protocol v1) held
// by one Node API, heartbeating every second. Reports the API's RSS per agent and heartbeat RTT.

const AGENTS = Number(process.env.BENCH_AGENTS ?? 5000)
const HEARTBEAT_MS = 1000
const WINDOW_MS = 15_000
const IN_FLIGHT = 32
const CONNECT_TIMEOUT_MS = 30_000
const SETTLE_MS = 3000
const RSS_SAMPLES = 5
const RSS_EVERY_MS = 500
const LOOP_RESOLUTION_MS = 10
const TARGET_AGENTS = 5000
const TARGET_KB_PER_AGENT = 50
const TARGET_HEARTBEAT_P99_MS = 20

/** What the bench keeps of one simulated agent. */
interface SimAgent {
  ws: WebSocket
  seq: number
  /** Heartbeats sent and not yet acknowledged: seq → performance.now() at send. */
  unacked: Map<number, number>
  timer: ReturnType<typeof setTimeout> | undefined
}

/** Heartbeat RTTs (ms), kept only while `recording` so the connection storm stays out of them. */
const rtts: number[] = []
let recording = false
let stopping = false
let droppedLinks = 0
let acks = 0
let invalidFrames = 0

/** Opens one agent's link: hello on welcome, then a heartbeat every second at a random phase. */
function openAgent(url: string, agentToken: string, index: number): Promise<SimAgent> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${agentToken}` },
      perMessageDeflate: false,
    })
    const agent: SimAgent = { ws, seq: 0, unacked: new Map(), timer: undefined }
    let welcomed = false
    const giveUp = setTimeout(() => {
      ws.terminate()
      reject(new Error(`agent ${index}: no welcome within ${CONNECT_TIMEOUT_MS} ms`))
    }, CONNECT_TIMEOUT_MS)
    const beat = () => {
      agent.seq += 1
      agent.unacked.set(agent.seq, performance.now())
      ws.send(encodeFrame({ type: 'heartbeat', seq: agent.seq }))
    }
    ws.on('message', (data) => {
      const frame = decodeFrame(toAgent, String(data))
      if (!frame) {
        invalidFrames += 1
        return
      }
      switch (frame.type) {
        case 'welcome':
          welcomed = true
          clearTimeout(giveUp)
          ws.send(
            encodeFrame({
              type: 'hello',
              agentVersion: 'bench',
              hostname: `bench-${index}`,
              arch: process.arch,
              os: 'Linux',
              dockerVersion: null,
              cpus: 2,
              memoryBytes: totalmem(),
            }),
          )
          // Independent hosts do not beat in step: each starts at its own phase of the second.
          agent.timer = setTimeout(() => {
            beat()
            agent.timer = setInterval(beat, frame.heartbeatMs)
          }, Math.random() * frame.heartbeatMs)
          resolve(agent)
          return
        case 'heartbeat_ack': {
          const sentAt = agent.unacked.get(frame.seq)
          if (sentAt === undefined) return
          agent.unacked.delete(frame.seq)
          acks += 1
          if (recording) rtts.push(performance.now() - sentAt)
          return
        }
        default:
          return // no calls are made to these agents
      }
    })
    ws.on('error', (err) => {
      if (!welcomed) {
        clearTimeout(giveUp)
        reject(new Error(`agent ${index}: ${err.message}`))
      }
    })
    ws.on('close', () => {
      clearInterval(agent.timer)
      if (welcomed && !stopping) droppedLinks += 1
    })
  })
}

runBench('agents', async () => {
  if (!Number.isInteger(AGENTS) || AGENTS < 1) throw new Error(`BENCH_AGENTS must be a positive integer`)
  const api = await startApi({ BERTH_HEARTBEAT_MS: String(HEARTBEAT_MS) })
  const token = await registerAdmin(api.http)
  const rows: string[][] = []

  let started = performance.now()
  const names = Array.from({ length: AGENTS }, (_, i) => `bench-${String(i).padStart(5, '0')}`)
  const agentTokens = await pool(names, IN_FLIGHT, async (name) => {
    const server = await createServer(api.http, token, name)
    return (await enroll(api.http, server.enrollmentToken)).agent_token
  })
  const createS = (performance.now() - started) / 1000
  rows.push([
    'servers created + enrolled',
    `${AGENTS} in ${fmt(createS, 1)} s (${fmt(AGENTS / createS, 0)}/s)`,
  ])

  await sleep(SETTLE_MS)
  const [afterCreateKb = Number.NaN] = await medianRssKb([api.pid()], RSS_SAMPLES, RSS_EVERY_MS)
  // Creating the servers leaves heap the agents' links would then fill unseen; a restart gives the
  // baseline of an API that holds N servers and no links, as after a deploy.
  await api.restart()
  await sleep(SETTLE_MS)
  const [baselineKb = Number.NaN] = await medianRssKb([api.pid()], RSS_SAMPLES, RSS_EVERY_MS)

  const connectUrl = `${api.url.replace(/^http/, 'ws')}${AGENT_PATHS.connect}`
  started = performance.now()
  const opened = await pool(agentTokens, IN_FLIGHT, (agentToken, i) =>
    openAgent(connectUrl, agentToken, i).catch((err: unknown) => {
      console.error(String(err))
      return null
    }),
  )
  const agents = opened.filter((a): a is SimAgent => a !== null)
  const connectS = (performance.now() - started) / 1000
  rows.push(['agents connected', `${agents.length} of ${AGENTS} in ${fmt(connectS, 1)} s`])

  try {
    // Every agent has started beating (one heartbeat answered) before the window opens.
    await waitFor(
      'every agent to have a heartbeat answered',
      () => agents.every((a) => a.seq > 0 && a.unacked.size < a.seq),
      HEARTBEAT_MS * 10,
      50,
    )
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
    const apiCpu0 = cpuSeconds(api.pid())
    const benchCpu0 = process.cpuUsage()
    const acks0 = acks
    const windowStart = performance.now()
    recording = true
    loop.enable()
    await sleep(WINDOW_MS - RSS_SAMPLES * RSS_EVERY_MS)
    const [afterKb = Number.NaN] = await medianRssKb([api.pid()], RSS_SAMPLES, RSS_EVERY_MS)
    recording = false
    loop.disable()
    const windowS = (performance.now() - windowStart) / 1000
    const apiCpu = (cpuSeconds(api.pid()) - apiCpu0) / windowS
    const benchUsage = process.cpuUsage(benchCpu0)
    const benchCpu = (benchUsage.user + benchUsage.system) / 1e6 / windowS
    const health = await api.http.get<Health>('/health')
    const online = health.body.services?.agents_online ?? Number.NaN
    const overdue = agents.reduce((n, a) => {
      for (const sentAt of a.unacked.values()) if (performance.now() - sentAt > HEARTBEAT_MS) n += 1
      return n
    }, 0)

    const rtt = summarize(rtts)
    const lagMs = (p: number) => Math.max(0, loop.percentile(p) / 1e6 - LOOP_RESOLUTION_MS)
    const kbPerAgent = (afterKb - baselineKb) / Math.max(1, agents.length)
    rows.push(
      ['health agents_online', String(online)],
      ['API RSS after creating the servers', `${fmt(afterCreateKb / 1024, 1)} MB (not the baseline)`],
      [
        'API RSS restarted baseline → with agents',
        `${fmt(baselineKb / 1024, 1)} → ${fmt(afterKb / 1024, 1)} MB`,
      ],
      ['API RSS added per agent', `${fmt(kbPerAgent, 1)} KB`],
      [
        `heartbeat RTT over ${fmt(windowS, 1)} s (ms)`,
        `p50 ${fmt(rtt.p50)}  p90 ${fmt(rtt.p90)}  p99 ${fmt(rtt.p99)}  max ${fmt(rtt.max)}  (n=${rtt.n})`,
      ],
      ['heartbeats acked / s', fmt((acks - acks0) / windowS, 0)],
      ['heartbeats overdue (> 1 s) at end', String(overdue)],
      ['links dropped by the API', String(droppedLinks)],
      ['invalid frames from the API', String(invalidFrames)],
      ['API CPU in window', `${fmt(apiCpu * 100, 0)} % of one core`],
      ['bench CPU in window (same 2-core host)', `${fmt(benchCpu * 100, 0)} % of one core`],
      [
        'bench event-loop lag (ms)',
        `p50 ${fmt(lagMs(50))}  p99 ${fmt(lagMs(99))}  max ${fmt(Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS))}`,
      ],
    )
    printTable(['agents per API process', 'measured'], rows)

    const agentsOk = agents.length >= TARGET_AGENTS && online >= TARGET_AGENTS
    const memOk = kbPerAgent < TARGET_KB_PER_AGENT
    const rttOk = rtt.p99 < TARGET_HEARTBEAT_P99_MS
    console.log('')
    printTable(
      ['target', 'measured', 'target', ''],
      [
        ['agents online', String(online), `≥ ${TARGET_AGENTS}`, verdict(agentsOk)],
        ['RSS per agent', `${fmt(kbPerAgent, 1)} KB`, `< ${TARGET_KB_PER_AGENT} KB`, verdict(memOk)],
        ['heartbeat p99', `${fmt(rtt.p99)} ms`, `< ${TARGET_HEARTBEAT_P99_MS} ms`, verdict(rttOk)],
      ],
    )
    console.log(
      `result: agents ${verdict(agentsOk && memOk && rttOk)} online=${online}/${AGENTS} kb_per_agent=${fmt(kbPerAgent, 1)} heartbeat_p50=${fmt(rtt.p50)}ms heartbeat_p99=${fmt(rtt.p99)}ms bench_lag_p99=${fmt(lagMs(99))}ms`,
    )
  } finally {
    stopping = true
    for (const agent of agents) agent.ws.terminate()
  }
})
