import Docker from 'dockerode'
import { registerAdmin } from '../test/support/flows.ts'
import {
  fmt,
  printTable,
  rawRequest,
  runBench,
  type Summary,
  startApi,
  startOnlineAgent,
  summarize,
  summaryRow,
  verdict,
  warmUp,
} from './support.ts'

// Relay overhead: what going through the API and the agent adds to a Docker Engine ping.
// POST /servers/:id/validate (bench → API → agent → Docker → back) against dockerode's ping
// made directly from this process, in alternating blocks so machine noise lands on both; a plain
// GET /servers/:id in the same rounds separates the HTTP/auth/database share from the relay's.
// One run measures both runtimes the same way: the API on Node, then the API under workerd
// (`wrangler dev --local`, started as the workerd e2e target starts it, with wrangler.toml's
// default settings), each with a real bundled agent and its own interleaved dockerode baseline.

const CALLS = 2000
/** wrangler dev is slower per call; fewer calls keep the run short, in the same blocks. */
const WORKERD_CALLS = Number(process.env.BENCH_WORKERD_CALLS ?? 1000)
const WARMUP_MS = 5_000
const BLOCK = 50
const TARGET_P50_ADDED_MS = 1
const TARGET_P99_ADDED_MS = 5

interface Validation {
  ok: boolean
  round_trip_ms: number
  docker_ms: number
}

interface Measured {
  via: Summary
  base: Summary
  roundTrips: Summary
  agentDocker: Summary
  plainApi: Summary
}

/** Times validate, a direct dockerode ping and GET /servers/:id in interleaved blocks of BLOCK. */
async function measure(
  docker: Docker,
  apiUrl: string,
  token: string,
  serverId: string,
  calls: number,
): Promise<Measured> {
  const serverUrl = `${apiUrl}/api/v1/servers/${serverId}`
  const validateUrl = `${serverUrl}/validate`
  const headers = { Authorization: `Bearer ${token}` }

  const relayed: number[] = []
  const direct: number[] = []
  const plainApi: number[] = []
  const roundTrips: number[] = []
  const agentDocker: number[] = []

  const validate = async (keep: boolean) => {
    const started = performance.now()
    const res = await rawRequest(validateUrl, 'POST', headers)
    const ms = performance.now() - started
    let body: { validation?: Validation } = {}
    try {
      body = JSON.parse(res.body) as { validation?: Validation }
    } catch {
      // reported below with the status
    }
    if (res.status !== 200 || !body.validation?.ok) {
      throw new Error(`validate answered ${res.status}: ${res.body.slice(0, 500)}`)
    }
    if (!keep) return
    relayed.push(ms)
    roundTrips.push(body.validation.round_trip_ms)
    agentDocker.push(body.validation.docker_ms)
  }
  const ping = async (keep: boolean) => {
    const started = performance.now()
    await docker.ping()
    if (keep) direct.push(performance.now() - started)
  }
  // The same HTTP, auth and database read without the agent: shows what the relay itself costs.
  const getServer = async (keep: boolean) => {
    const started = performance.now()
    const res = await rawRequest(serverUrl, 'GET', headers)
    JSON.parse(res.body)
    if (res.status !== 200) throw new Error(`GET /servers/:id answered ${res.status}`)
    if (keep) plainApi.push(performance.now() - started)
  }
  const sides = [validate, ping, getServer]
  const block = async (fn: (keep: boolean) => Promise<void>, keep: boolean) => {
    for (let i = 0; i < BLOCK; i++) await fn(keep)
  }

  await warmUp(WARMUP_MS, async () => {
    for (const side of sides) await block(side, false)
  })
  // Each round starts with another side, so none always runs first after a collection.
  for (let round = 0; round < calls / BLOCK; round++) {
    globalThis.gc?.()
    for (let k = 0; k < sides.length; k++) await block(sides[(round + k) % sides.length]!, true)
  }
  return {
    via: summarize(relayed),
    base: summarize(direct),
    roundTrips: summarize(roundTrips),
    agentDocker: summarize(agentDocker),
    plainApi: summarize(plainApi),
  }
}

/** Prints one runtime's tables and its `result:` line. */
function report(runtime: string, resultName: string, m: Measured): void {
  const row = summaryRow
  console.log(`\n-- API on ${runtime}`)
  printTable(
    ['ms', 'n', 'p50', 'p90', 'p99', 'max'],
    [
      row('docker.ping direct (dockerode)', m.base),
      row('POST /servers/:id/validate', m.via),
      row('  API→agent→API (round_trip_ms)', m.roundTrips),
      row('  Docker ping in agent (docker_ms)', m.agentDocker),
      row('GET /servers/:id (no agent, reference)', m.plainApi),
    ],
  )
  const addedP50 = m.via.p50 - m.base.p50
  const addedP99 = m.via.p99 - m.base.p99
  const ratio = m.via.p50 / m.base.p50
  const p50Ok = addedP50 <= TARGET_P50_ADDED_MS
  const p99Ok = addedP99 <= TARGET_P99_ADDED_MS
  console.log('')
  printTable(
    [`added by the relay (${runtime})`, 'measured', 'target', ''],
    [
      ['p50', `${fmt(addedP50, 3)} ms`, `≤ ${TARGET_P50_ADDED_MS} ms`, verdict(p50Ok)],
      ['p99', `${fmt(addedP99, 3)} ms`, `≤ ${TARGET_P99_ADDED_MS} ms`, verdict(p99Ok)],
      ['ratio at p50', `${fmt(ratio)}×`, '', ''],
    ],
  )
  console.log(
    `result: ${resultName} ${verdict(p50Ok && p99Ok)} added_p50=${fmt(addedP50, 3)}ms added_p99=${fmt(addedP99, 3)}ms ratio_p50=${fmt(ratio)}x`,
  )
}

runBench('relay', async () => {
  const docker = new Docker()

  // The API on Node.
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'relay')
  const onNode = await measure(docker, api.url, token, server.id, CALLS)
  report('Node', 'relay', onNode)
  // Nothing of the Node run keeps running while workerd is measured.
  await server.agent.stop()
  await api.halt()

  // The API under workerd, as the workerd e2e target starts it, with wrangler.toml's settings.
  const worker = await startApi({}, 'workerd')
  const workerToken = await registerAdmin(worker.http)
  const workerServer = await startOnlineAgent(worker, workerToken, 'relay-workerd')
  const onWorkerd = await measure(docker, worker.url, workerToken, workerServer.id, WORKERD_CALLS)
  report('workerd (wrangler dev --local)', 'relay-workerd', onWorkerd)
})
