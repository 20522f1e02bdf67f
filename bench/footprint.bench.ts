import { registerAdmin } from '../test/support/flows.ts'
import {
  fmt,
  medianRssKb,
  printTable,
  runBench,
  sleep,
  spawnNode,
  startApi,
  startOnlineAgent,
  track,
  verdict,
} from './support.ts'

// Agent footprint: the resident memory of an idle, enrolled, connected agent next to a bare Node
// process doing nothing, both measured at the same moments.

/**
 * Idle means after the start-up burst: V8's memory reducer hands the start-up heap back about
 * eight seconds after the agent starts (RSS 67 → 57 MB here), so samples taken sooner measure the burst.
 */
const SETTLE_MS = 15_000
const SAMPLES = 5
const EVERY_MS = 1000
const TARGET_RATIO = 1.5

runBench('footprint', async () => {
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const { agent } = await startOnlineAgent(api, token, 'footprint')
  const bare = track(spawnNode(['-e', 'setInterval(() => {}, 1e3)'], {}))

  await sleep(SETTLE_MS)
  for (const [what, child] of [
    ['agent', agent],
    ['bare node', bare],
  ] as const) {
    if (!child.running) throw new Error(`the ${what} process exited:\n${child.output}`)
  }
  const [agentKb = Number.NaN, bareKb = Number.NaN] = await medianRssKb(
    [agent.proc.pid ?? 0, bare.proc.pid ?? 0],
    SAMPLES,
    EVERY_MS,
  )
  const ratio = agentKb / bareKb
  const ok = ratio <= TARGET_RATIO
  printTable(
    ['process (VmRSS, median of 5)', 'MB'],
    [
      [`node -e "setInterval(() => {}, 1e3)" (${process.version})`, fmt(bareKb / 1024, 1)],
      ['berth-agent.mjs, enrolled, connected, idle', fmt(agentKb / 1024, 1)],
    ],
  )
  console.log('')
  printTable(
    ['target', 'measured', 'target', ''],
    [['agent / bare node', `${fmt(ratio)}×`, `≤ ${TARGET_RATIO}×`, verdict(ok)]],
  )
  console.log(
    `result: footprint ${verdict(ok)} agent=${fmt(agentKb / 1024, 1)}MB bare_node=${fmt(bareKb / 1024, 1)}MB ratio=${fmt(ratio)}x`,
  )
})
