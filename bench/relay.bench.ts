import Docker from 'dockerode'
import {
  fmt,
  printTable,
  rawRequest,
  registerAdmin,
  runBench,
  type Summary,
  startApi,
  startOnlineAgent,
  summarize,
  verdict,
} from './support.ts'

// Relay overhead: what going through the API and the agent adds to a Docker Engine ping.
// POST /servers/:id/validate (bench → API → agent → Docker → back) against dockerode's ping
// made directly from this process, in alternating blocks so machine noise lands on both; a plain
// GET /servers/:id in the same rounds separates the HTTP/auth/database share from the relay's.

const CALLS = 2000
const WARMUP = 200
const BLOCK = 50
const TARGET_P50_ADDED_MS = 1
const TARGET_P99_ADDED_MS = 5

interface Validation {
  ok: boolean
  round_trip_ms: number
  docker_ms: number
}

runBench('relay', async () => {
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'relay')
  const docker = new Docker()
  const serverUrl = `${api.url}/api/v1/servers/${server.id}`
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
    const body = JSON.parse(res.body) as { validation?: Validation }
    const ms = performance.now() - started
    if (res.status !== 200 || !body.validation?.ok) {
      throw new Error(`validate answered ${res.status}: ${JSON.stringify(body)}`)
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

  for (let i = 0; i < WARMUP / BLOCK; i++) for (const side of sides) await block(side, false)
  // Each round starts with another side, so none always runs first after a collection.
  for (let round = 0; round < CALLS / BLOCK; round++) {
    globalThis.gc?.()
    for (let k = 0; k < sides.length; k++) await block(sides[(round + k) % sides.length]!, true)
  }

  const via = summarize(relayed)
  const base = summarize(direct)
  const row = (name: string, s: Summary) => [
    name,
    String(s.n),
    fmt(s.p50, 3),
    fmt(s.p90, 3),
    fmt(s.p99, 3),
    fmt(s.max, 3),
  ]
  printTable(
    ['ms', 'n', 'p50', 'p90', 'p99', 'max'],
    [
      row('docker.ping direct (dockerode)', base),
      row('POST /servers/:id/validate', via),
      row('  API→agent→API (round_trip_ms)', summarize(roundTrips)),
      row('  Docker ping in agent (docker_ms)', summarize(agentDocker)),
      row('GET /servers/:id (no agent, reference)', summarize(plainApi)),
    ],
  )
  const addedP50 = via.p50 - base.p50
  const addedP99 = via.p99 - base.p99
  const ratio = via.p50 / base.p50
  const p50Ok = addedP50 <= TARGET_P50_ADDED_MS
  const p99Ok = addedP99 <= TARGET_P99_ADDED_MS
  console.log('')
  printTable(
    ['added by the relay', 'measured', 'target', ''],
    [
      ['p50', `${fmt(addedP50, 3)} ms`, `≤ ${TARGET_P50_ADDED_MS} ms`, verdict(p50Ok)],
      ['p99', `${fmt(addedP99, 3)} ms`, `≤ ${TARGET_P99_ADDED_MS} ms`, verdict(p99Ok)],
      ['ratio at p50', `${fmt(ratio)}×`, '', ''],
    ],
  )
  console.log(
    `result: relay ${verdict(p50Ok && p99Ok)} added_p50=${fmt(addedP50, 3)}ms added_p99=${fmt(addedP99, 3)}ms ratio_p50=${fmt(ratio)}x`,
  )
})
