import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { reverseProxy } from '../packages/agent/src/proxy/config.ts'
import { startCaddy } from '../test/support/caddy.ts'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { freePort } from '../test/support/process.ts'
import {
  cpuSeconds,
  fmt,
  onCleanUp,
  printTable,
  rawRequest,
  runBench,
  type Summary,
  summarize,
  summaryRow,
  verdict,
  waitFor,
  warmUp,
} from './support.ts'

// Caddy on an app's data path: what it adds to a small GET, and the requests/s it passes with 32
// connections, each against the same GET made directly to the container's bridge address in the
// same run. Caddy is configured as the agent configures an app's host port: a `berth-port-<port>`
// server, automatic HTTPS off, one route `@id berth-port-<app>` with the agent's own reverse_proxy
// handler, so the bench measures Caddy's data path and nothing of Berth's.

const CALLS = 2000
const WARMUP_MS = 3_000
const BLOCK = 50
const WRK_ROUNDS = 2
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 8)
const CONNECTIONS = 32
const TARGET_P50_ADDED_MS = 0.3
const TARGET_THROUGHPUT = 0.8
const LABEL = 'berth.bench=proxy'
const APP = 'app_benchproxy'
// Caddy's transport options to try on the route (JSON, e.g. {"keep_alive":{"enabled":false}}); Caddy's defaults without.
const TRANSPORT = process.env.BENCH_PROXY_TRANSPORT
  ? { transport: { protocol: 'http', ...JSON.parse(process.env.BENCH_PROXY_TRANSPORT) } }
  : {}

const run = promisify(execFile)

function removeBenchContainers(): void {
  removeContainers(docker('ps', '-aq', '--filter', `label=${LABEL}`).split('\n').filter(Boolean))
}

async function get(url: string): Promise<void> {
  const res = await rawRequest(url, 'GET', {})
  if (res.status !== 200 || !res.body.includes('berth test page')) {
    throw new Error(`GET ${url} answered ${res.status}: ${res.body.slice(0, 200)}`)
  }
}

/** Times GETs to each URL in interleaved blocks of BLOCK, so machine noise lands on both. */
async function latencies(direct: string, proxied: string): Promise<{ direct: Summary; proxied: Summary }> {
  const times: Record<string, number[]> = { [direct]: [], [proxied]: [] }
  const block = async (url: string, keep: boolean) => {
    for (let i = 0; i < BLOCK; i++) {
      const started = performance.now()
      await get(url)
      if (keep) times[url]?.push(performance.now() - started)
    }
  }
  await warmUp(WARMUP_MS, async () => {
    await block(direct, false)
    await block(proxied, false)
  })
  for (let round = 0; round < CALLS / BLOCK; round++) {
    globalThis.gc?.()
    const [first, second] = round % 2 === 0 ? [direct, proxied] : [proxied, direct]
    await block(first, true)
    await block(second, true)
  }
  return { direct: summarize(times[direct] ?? []), proxied: summarize(times[proxied] ?? []) }
}

interface WrkRun {
  rps: number
  requests: number
  errors: number
}

/** One wrk run; a socket error or a non-2xx answer is counted, not hidden in the rate. */
async function wrk(url: string): Promise<WrkRun> {
  const { stdout } = await run('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${WRK_SECONDS}s`, url])
  const rps = Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1])
  const requests = Number(stdout.match(/(\d+) requests in/)?.[1])
  if (!Number.isFinite(rps) || !Number.isFinite(requests)) throw new Error(`wrk printed no rate:\n${stdout}`)
  const socket = stdout.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/)
  const non2xx = Number(stdout.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0)
  const errors = non2xx + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0)
  if (errors > 0) console.log(`wrk ${url}: ${socket?.[0] ?? ''} non-2xx ${non2xx}`)
  return { rps, requests, errors }
}

runBench('proxy', async () => {
  removeBenchContainers()
  process.once('exit', removeBenchContainers)
  const container = docker(
    'run',
    '-d',
    '--label',
    LABEL,
    '--name',
    `berth-bench-proxy-${process.pid}`,
    TEST_IMAGE,
    'httpd',
    '-f',
    '-p',
    '3000',
    '-h',
    '/www',
  )
  onCleanUp(async () => removeContainers([container]))
  const address = docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', container)
  const direct = `http://${address}:3000/`
  await waitFor('the container to answer', () => get(direct).then(() => true))

  const caddy = await startCaddy({ name: 'bench-proxy' })
  onCleanUp(() => caddy.stop())
  const hostPort = await freePort()
  const server = `berth-port-${hostPort}`
  const upstreams = [{ dockerId: container, host: address, port: 3000 }]
  const reply = await caddy.admin('PUT', '/config/apps/http', {
    servers: {
      [server]: {
        listen: [`127.0.0.1:${hostPort}`],
        automatic_https: { disable: true },
        routes: [
          {
            '@id': `berth-port-${APP}`,
            handle: [{ ...reverseProxy({ appId: APP, hostPort, upstreams, health: null }), ...TRANSPORT }],
            terminal: true,
          },
        ],
      },
    },
  })
  if (reply.status !== 200)
    throw new Error(`Caddy refused the route: ${reply.status} ${JSON.stringify(reply.body)}`)
  const proxied = `http://127.0.0.1:${hostPort}/`
  if (process.env.BENCH_PROXY_TRANSPORT) console.log(`Caddy's transport: ${JSON.stringify(TRANSPORT)}`)
  await waitFor('Caddy to serve the route', () => get(proxied).then(() => true))

  // ---------------------------------------------------------------- overhead of one request
  const m = await latencies(direct, proxied)
  const row = summaryRow
  printTable(
    ['ms', 'n', 'p50', 'p90', 'p99', 'max'],
    [row('GET container (bridge address)', m.direct), row('GET through Caddy', m.proxied)],
  )

  // ---------------------------------------------------------------- throughput, alternating
  const directRuns: WrkRun[] = []
  const proxiedRuns: WrkRun[] = []
  const caddyPid = caddy.pid
  if (caddyPid === undefined) throw new Error('Caddy has no pid')
  let caddyCpu = 0
  for (let round = 0; round < WRK_ROUNDS; round++) {
    directRuns.push(await wrk(direct))
    const cpuBefore = cpuSeconds(caddyPid)
    proxiedRuns.push(await wrk(proxied))
    caddyCpu += cpuSeconds(caddyPid) - cpuBefore
  }
  const mean = (runs: WrkRun[]) => runs.reduce((sum, r) => sum + r.rps, 0) / runs.length
  const errors = (runs: WrkRun[]) => runs.reduce((sum, r) => sum + r.errors, 0)
  console.log('')
  printTable(
    [
      `wrk, ${CONNECTIONS} connections, ${WRK_SECONDS} s a run`,
      ...directRuns.map((_, i) => `run ${i + 1}`),
      'mean',
      'errors',
    ],
    [
      [
        'direct req/s',
        ...directRuns.map((r) => fmt(r.rps, 0)),
        fmt(mean(directRuns), 0),
        String(errors(directRuns)),
      ],
      [
        'through Caddy req/s',
        ...proxiedRuns.map((r) => fmt(r.rps, 0)),
        fmt(mean(proxiedRuns), 0),
        String(errors(proxiedRuns)),
      ],
    ],
  )

  // What a failed request through Caddy was, from its log: a refused dial to the container reads as a 502.
  for (const line of caddy.output
    .split('\n')
    .filter((l) => l.includes('"level":"error"'))
    .slice(0, 3)) {
    console.log(`Caddy: ${line.slice(0, 400)}`)
  }
  const caddyUsPerRequest = (caddyCpu * 1e6) / proxiedRuns.reduce((sum, r) => sum + r.requests, 0)
  // On a small host wrk, Caddy and the container share the cores: Caddy's CPU per request says why.
  console.log(`Caddy's CPU under wrk: ${fmt(caddyUsPerRequest, 0)} µs per request`)
  const addedP50 = m.proxied.p50 - m.direct.p50
  const addedP99 = m.proxied.p99 - m.direct.p99
  const ratio = mean(proxiedRuns) / mean(directRuns)
  const latencyOk = addedP50 <= TARGET_P50_ADDED_MS
  const throughputOk = ratio >= TARGET_THROUGHPUT && errors(proxiedRuns) === 0
  console.log('')
  printTable(
    ['added by Caddy', 'measured', 'target', ''],
    [
      ['p50', `${fmt(addedP50, 3)} ms`, `≤ ${TARGET_P50_ADDED_MS} ms`, verdict(latencyOk)],
      ['p99', `${fmt(addedP99, 3)} ms`, '', ''],
      ['throughput', `${fmt(ratio)}× direct`, `≥ ${TARGET_THROUGHPUT}×, no errors`, verdict(throughputOk)],
    ],
  )
  console.log(
    `result: proxy ${verdict(latencyOk && throughputOk)} added_p50=${fmt(addedP50, 3)}ms added_p99=${fmt(addedP99, 3)}ms throughput=${fmt(ratio)}x`,
  )
})
