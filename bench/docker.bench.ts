import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CLI_BUNDLE } from '../test/support/cli.ts'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import { Child, rssOf } from '../test/support/process.ts'
import {
  fmt,
  onCleanUp,
  printChecks,
  printTable,
  runBench,
  startApi,
  startOnlineAgent,
  summarize,
  tempDir,
  track,
  waitFor,
} from './support.ts'

// The real docker client through `berth docker SERVER --socket PATH` (API on Node, the bundled
// agent, the same Engine) against the same client on /var/run/docker.sock, interleaved in one run:
// the wall time of `docker ps` and `docker run --rm`, and the throughput of `docker logs` and
// `docker cp` of 200 MB, with the API's and the agent's peak RSS while the bytes go through.

const ROUNDS = Number(process.env.BENCH_DOCKER_ROUNDS ?? 20)
const RUN_ROUNDS = Number(process.env.BENCH_DOCKER_RUNS ?? 8)
const BULK_ROUNDS = Number(process.env.BENCH_DOCKER_BULK ?? 3)
const BULK_BYTES = 200_000_000
const TARGET_RATIO = 1.3
const TARGET_THROUGHPUT = 0.7
const TARGET_RSS_GROWTH_MB = 50
const DIRECT = 'unix:///var/run/docker.sock'
const run = promisify(execFile)
const prefix = `berth-bench-docker-${Date.now().toString(36)}`

/** Milliseconds a shell command takes, with DOCKER_HOST set; its stdout is handed back. */
async function timed(dockerHost: string, command: string): Promise<[number, string]> {
  const started = performance.now()
  const { stdout } = await run('sh', ['-c', command], {
    env: { ...process.env, DOCKER_HOST: dockerHost },
    maxBuffer: 1024 * 1024,
  })
  return [performance.now() - started, stdout]
}

/** The highest RSS of each pid while `body` runs, sampled every 50 ms. */
async function peakRss<T>(pids: number[], body: () => Promise<T>): Promise<[T, number[]]> {
  const peaks = pids.map(rssOf)
  const sample = () => {
    for (const [i, pid] of pids.entries()) peaks[i] = Math.max(peaks[i]!, rssOf(pid))
  }
  const timer = setInterval(sample, 50)
  try {
    return [await body(), peaks]
  } finally {
    clearInterval(timer)
  }
}

/** Each side's p50 ms over `rounds`, the two taking turns to go first. */
async function latency(via: string, command: string, rounds: number) {
  const times = { via: [] as number[], direct: [] as number[] }
  await timed(via, command)
  await timed(DIRECT, command)
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['via', 'direct'] as const) : (['direct', 'via'] as const)
    for (const side of order) times[side].push((await timed(side === 'via' ? via : DIRECT, command))[0])
  }
  return { via: summarize(times.via).p50, direct: summarize(times.direct).p50 }
}

runBench('docker', async () => {
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-docker')
  const socket = join(tempDir('berth-bench-docker-'), 'docker.sock')
  const env = { ...process.env, BERTH_URL: api.url, BERTH_TOKEN: token }
  const endpoint = track(
    new Child(
      spawn(process.execPath, [CLI_BUNDLE, 'docker', server.id, '--socket', socket, '--json'], { env }),
    ),
  )
  await waitFor('the berth docker socket', () => endpoint.output.includes('docker_host'), 20_000)
  const via = `unix://${socket}`
  onCleanUp(async () => removeContainers([`${prefix}-logs`, `${prefix}-cp`]))

  const ps = await latency(via, 'docker ps -q', ROUNDS)
  const runs = await latency(via, `docker run --rm ${TEST_IMAGE} true`, RUN_ROUNDS)
  // One-shot, with the CLI's start and its first tunnel: what `berth docker S -- ps` costs a person.
  const oneShots: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    await run(process.execPath, [CLI_BUNDLE, 'docker', server.id, '--', 'ps', '-q'], { env })
    oneShots.push(performance.now() - started)
  }
  const oneShot = summarize(oneShots).p50

  // 200 MB in the json-file log of a container that has exited, and a 200 MB file in a running one.
  const lines = BULK_BYTES / 100
  docker(
    'run',
    '-d',
    '--name',
    `${prefix}-logs`,
    TEST_IMAGE,
    'sh',
    '-c',
    `yes ${'0123456789'.repeat(10).slice(0, 99)} | head -n ${lines}`,
  )
  docker('wait', `${prefix}-logs`)
  docker(
    'run',
    '-d',
    '--name',
    `${prefix}-cp`,
    TEST_IMAGE,
    'sh',
    '-c',
    `head -c ${BULK_BYTES} /dev/urandom > /big && touch /ready && sleep 3600`,
  )
  await waitFor(
    'the 200 MB file',
    async () => {
      try {
        docker('exec', `${prefix}-cp`, 'test', '-e', '/ready')
        return true
      } catch {
        return false
      }
    },
    120_000,
  )

  const pids = [api.pid(), server.agent.proc.pid!, endpoint.proc.pid!]
  const before = pids.map(rssOf)
  const bulk = async (command: string) => {
    const mbps = { via: [] as number[], direct: [] as number[] }
    let peaks = pids.map(() => 0)
    for (let i = 0; i < BULK_ROUNDS; i++) {
      for (const side of i % 2 === 0 ? (['via', 'direct'] as const) : (['direct', 'via'] as const)) {
        const [[ms, out], seen] = await peakRss(pids, () => timed(side === 'via' ? via : DIRECT, command))
        if (side === 'via') peaks = peaks.map((p, k) => Math.max(p, seen[k]!))
        const bytes = Number(out.trim())
        if (bytes < BULK_BYTES) throw new Error(`${command} gave ${bytes} bytes through ${side}`)
        mbps[side].push(bytes / 1e6 / (ms / 1000))
      }
    }
    return { via: summarize(mbps.via).p50, direct: summarize(mbps.direct).p50, peaks }
  }
  const logs = await bulk(`docker logs ${prefix}-logs | wc -c`)
  const cp = await bulk(`docker cp ${prefix}-cp:/big - | wc -c`)

  printTable(
    ['', 'through berth', 'direct', 'ratio'],
    [
      ['docker ps, p50 ms', fmt(ps.via, 1), fmt(ps.direct, 1), `${fmt(ps.via / ps.direct)}×`],
      [
        'docker run --rm true, p50 ms',
        fmt(runs.via, 1),
        fmt(runs.direct, 1),
        `${fmt(runs.via / runs.direct)}×`,
      ],
      [
        'berth docker -- ps (one shot), ms',
        fmt(oneShot, 1),
        fmt(ps.direct, 1),
        `${fmt(oneShot / ps.direct)}×`,
      ],
      ['docker logs 200 MB, MB/s', fmt(logs.via, 1), fmt(logs.direct, 1), `${fmt(logs.via / logs.direct)}×`],
      ['docker cp 200 MB out, MB/s', fmt(cp.via, 1), fmt(cp.direct, 1), `${fmt(cp.via / cp.direct)}×`],
    ],
  )
  const mb = (bytes: number) => bytes / 1024 / 1024
  const growth = (k: number) => mb(Math.max(logs.peaks[k]!, cp.peaks[k]!) - before[k]!)
  console.log('')
  printTable(
    ['RSS, MB', 'before', 'peak during logs', 'peak during cp', 'growth'],
    ['API', 'agent', 'berth docker'].map((name, k) => [
      name,
      fmt(mb(before[k]!), 1),
      fmt(mb(logs.peaks[k]!), 1),
      fmt(mb(cp.peaks[k]!), 1),
      fmt(growth(k), 1),
    ]),
  )
  console.log('')
  const ok = printChecks([
    ['docker ps', `${fmt(ps.via / ps.direct)}×`, `≤ ${TARGET_RATIO}×`, ps.via / ps.direct <= TARGET_RATIO],
    [
      'docker run --rm',
      `${fmt(runs.via / runs.direct)}×`,
      `≤ ${TARGET_RATIO}×`,
      runs.via / runs.direct <= TARGET_RATIO,
    ],
    [
      'docker logs',
      `${fmt(logs.via / logs.direct)}×`,
      `≥ ${TARGET_THROUGHPUT}×`,
      logs.via / logs.direct >= TARGET_THROUGHPUT,
    ],
    [
      'docker cp',
      `${fmt(cp.via / cp.direct)}×`,
      `≥ ${TARGET_THROUGHPUT}×`,
      cp.via / cp.direct >= TARGET_THROUGHPUT,
    ],
    [
      'API RSS growth',
      `${fmt(growth(0), 1)} MB`,
      `< ${TARGET_RSS_GROWTH_MB} MB`,
      growth(0) < TARGET_RSS_GROWTH_MB,
    ],
    [
      'agent RSS growth',
      `${fmt(growth(1), 1)} MB`,
      `< ${TARGET_RSS_GROWTH_MB} MB`,
      growth(1) < TARGET_RSS_GROWTH_MB,
    ],
  ])
  console.log(
    `result: docker ${ok ? 'PASS' : 'MISS'} ps=${fmt(ps.via / ps.direct)}x run=${fmt(runs.via / runs.direct)}x logs=${fmt(logs.via / logs.direct)}x cp=${fmt(cp.via / cp.direct)}x`,
  )
})
