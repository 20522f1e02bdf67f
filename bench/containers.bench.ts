import { connectDocker, StatsHistory, sampleRound } from '@berth/agent'
import Docker from 'dockerode'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import {
  cpuSeconds,
  fmt,
  pool,
  printTable,
  rawRequest,
  runBench,
  sleep,
  startApi,
  startOnlineAgent,
  summarize,
  verdict,
  warmUp,
} from './support.ts'

// Containers through the relay: a stats round against `docker stats --no-stream`, inspect and
// create+start through the API against the same dockerode calls made directly, and the agent's
// CPU while it samples 50 containers.

const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 50)
const INSPECTS = 2000
const WARMUP_MS = 5_000
const CREATES = 30
const CPU_WINDOW_S = Number(process.env.BENCH_CPU_WINDOW_S ?? 40)
const LABEL = 'berth.bench=containers'

function removeBenchContainers(): void {
  const ids = docker('ps', '-aq', '--filter', `label=${LABEL}`).split('\n').filter(Boolean)
  removeContainers(ids)
}

function timed(fn: () => void): number {
  const started = performance.now()
  fn()
  return performance.now() - started
}

runBench('containers', async () => {
  removeBenchContainers()
  process.once('exit', removeBenchContainers)
  const ids = await pool(
    Array.from({ length: CONTAINERS }, (_, i) => i),
    8,
    async (i) =>
      docker('run', '-d', '--label', LABEL, '--name', `bench-stats-${i}`, TEST_IMAGE, 'sleep', '3600'),
  )

  // ---------------------------------------------------------------- stats round
  const engine = connectDocker()
  const history = new StatsHistory()
  await sampleRound(engine, ids, history) // first round primes the cpu % baseline
  const rounds: number[] = []
  let samples = 0
  for (let i = 0; i < 5; i++) {
    const round = await sampleRound(engine, ids, history)
    rounds.push(round.ms)
    samples = round.samples.length
  }
  const cli: number[] = []
  for (let i = 0; i < 3; i++)
    cli.push(timed(() => docker('stats', '--no-stream', '--format', '{{.ID}}', ...ids)))
  const round = summarize(rounds)
  const dockerStats = summarize(cli)
  const speedup = dockerStats.p50 / round.p50

  // ---------------------------------------------------------------- relay on real work
  const api = await startApi({ BERTH_STATS_INTERVAL_MS: '10000' })
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-containers')
  const direct = new Docker()
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }
  const base = `${api.url}/api/v1/servers/${server.id}/containers`

  const target = ids[0] as string
  const viaApi: number[] = []
  const viaDocker: number[] = []
  const inspectBoth = async (record: boolean) => {
    const a = performance.now()
    const res = await rawRequest(`${base}/${target}`, 'GET', headers)
    JSON.parse(res.body)
    if (res.status !== 200) throw new Error(`inspect answered ${res.status}`)
    const b = performance.now()
    await direct.getContainer(target).inspect()
    const c = performance.now()
    if (record) {
      viaApi.push(b - a)
      viaDocker.push(c - b)
    }
  }
  await warmUp(WARMUP_MS, () => inspectBoth(false))
  for (let i = 0; i < INSPECTS; i++) await inspectBoth(true)
  const inspectApi = summarize(viaApi)
  const inspectDirect = summarize(viaDocker)

  const createApi: number[] = []
  const createDirect: number[] = []
  for (let i = 0; i < CREATES; i++) {
    const a = performance.now()
    const res = await fetch(base, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        image: TEST_IMAGE,
        name: `bench-api-${i}`,
        cmd: ['sleep', '3600'],
        labels: { 'berth-bench': 'containers' },
      }),
    })
    if (res.status !== 201) throw new Error(`create answered ${res.status}: ${await res.text()}`)
    await res.json()
    const b = performance.now()
    const made = await direct.createContainer({
      Image: TEST_IMAGE,
      name: `bench-direct-${i}`,
      Cmd: ['sleep', '3600'],
      Labels: { 'berth.bench': 'containers' },
    })
    await made.start()
    const c = performance.now()
    createApi.push(b - a)
    createDirect.push(c - b)
  }
  for (const id of docker('ps', '-aq', '--filter', 'label=berth-bench=containers')
    .split('\n')
    .filter(Boolean)) {
    removeContainers([id])
  }
  const created = summarize(createApi)
  const createdDirect = summarize(createDirect)
  const createRatio = created.p50 / createdDirect.p50

  // ---------------------------------------------------------------- agent CPU while sampling
  const pid = server.agent.proc.pid as number
  await sleep(2000)
  const cpuBefore = cpuSeconds(pid)
  await sleep(CPU_WINDOW_S * 1000)
  const agentCpu = ((cpuSeconds(pid) - cpuBefore) / CPU_WINDOW_S) * 100

  const row = (name: string, s: ReturnType<typeof summarize>) => [
    name,
    String(s.n),
    fmt(s.p50, 3),
    fmt(s.p99, 3),
  ]
  printTable(
    ['ms', 'n', 'p50', 'p99'],
    [
      row(`stats round, ${samples} of ${CONTAINERS} containers`, round),
      row('docker stats --no-stream, same containers', dockerStats),
      row('inspect through the API', inspectApi),
      row('inspect direct (dockerode)', inspectDirect),
      row('create+start through the API', created),
      row('create+start direct (dockerode)', createdDirect),
    ],
  )
  const checks = [
    ['stats round', `${fmt(round.p50, 1)} ms`, '< 250 ms', round.p50 < 250],
    ['vs docker stats', `${fmt(speedup, 1)}×`, '≥ 10×', speedup >= 10],
    [
      'inspect p50 added',
      `${fmt(inspectApi.p50 - inspectDirect.p50, 3)} ms`,
      '≤ 1 ms',
      inspectApi.p50 - inspectDirect.p50 <= 1,
    ],
    ['create+start', `${fmt(createRatio, 2)}×`, '≤ 1.1×', createRatio <= 1.1],
    [`agent CPU (${CPU_WINDOW_S} s)`, `${fmt(agentCpu, 2)} %`, '< 1 %', agentCpu < 1],
  ] as const
  printTable(
    ['check', 'measured', 'target', ''],
    checks.map(([name, got, want, ok]) => [name, got, want, verdict(ok)]),
  )
  const pass = checks.every((c) => c[3])
  console.log(
    `result: containers ${verdict(pass)} stats_round=${fmt(round.p50, 1)}ms speedup=${fmt(speedup, 1)}x inspect_added=${fmt(inspectApi.p50 - inspectDirect.p50, 3)}ms create_ratio=${fmt(createRatio, 2)}x agent_cpu=${fmt(agentCpu, 2)}%`,
  )
})
