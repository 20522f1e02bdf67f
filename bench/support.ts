import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Enrollment, EnrollResponse, Server } from '@berth/shared'
import { startAgentProcess } from '../test/support/agent.ts'
import type { Client } from '../test/support/http.ts'
import { type Child, rssOf, spawnNode, waitFor } from '../test/support/process.ts'
import { type ApiTarget, startApi as startTestApi } from '../test/support/target.ts'

// What the benchmarks share: the API and agents as real processes, a few statistics, one table format.
// Process handling comes from test/support so the benchmarks start Berth exactly as the tests do.

export { sleep, spawnNode, waitFor }

// ------------------------------------------------------------------ processes

const children = new Set<Child>()
const tempDirs = new Set<string>()
const stoppers = new Set<() => Promise<void>>()

/** Keeps a child so it is killed when the bench ends, however it ends. */
export function track(child: Child): Child {
  children.add(child)
  return child
}

/** Runs `stop` when the bench ends, however it ends: for what is not a Child, such as `wrangler dev`. */
export function onCleanUp(stop: () => Promise<void>): void {
  stoppers.add(stop)
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

async function cleanUp(): Promise<void> {
  await Promise.all([
    ...[...children].map((c) => c.stop('SIGTERM', 3000)),
    ...[...stoppers].map((stop) => stop().catch(() => {})),
  ])
  children.clear()
  stoppers.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

// Last resort when the bench process goes down without running its finally: no child outlives it.
process.once('exit', () => {
  for (const c of children) if (c.running) c.proc.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130))
  })
}

/** Runs a bench; whatever happens, every child it started is stopped and its temp dirs removed. */
export function runBench(name: string, body: () => Promise<void>): void {
  // The host may be shared; its load before the bench started lets a reader weigh the figures.
  const [load1 = 0] = loadavg()
  console.log(
    `host: ${availableParallelism()} cpus, load average ${load1.toFixed(2)} (1 min) before the bench`,
  )
  body()
    .catch((err: unknown) => {
      console.error(
        `bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      )
      console.log(`result: ${name} MISS (the bench did not complete)`)
      process.exitCode = 1
    })
    .finally(cleanUp)
}

// ------------------------------------------------------------------ the API and agents

/**
 * The API as its own process, started as the tests start it (test/support/target.ts) but with
 * its own default settings and no local agent; stopped when the bench ends.
 */
export async function startApi(
  env: Record<string, string> = {},
  target: 'node' | 'workerd' = 'node',
): Promise<ApiTarget> {
  const api = await startTestApi({ target, env, testSettings: false })
  onCleanUp(() => api.stop())
  return api
}

export async function createServer(
  http: Client,
  token: string,
  name: string,
): Promise<{ id: string; enrollmentToken: string }> {
  const res = await http.post<{ server: Server; enrollment: Enrollment }>('/servers', {
    token,
    body: { name },
  })
  if (res.status !== 201) throw new Error(`POST /servers: ${res.status} ${res.text}`)
  return { id: res.body.server.id, enrollmentToken: res.body.enrollment.token }
}

export async function enroll(http: Client, enrollmentToken: string): Promise<EnrollResponse> {
  const res = await http.post<EnrollResponse>('/agent/enroll', { body: { token: enrollmentToken } })
  if (res.status !== 201) throw new Error(`POST /agent/enroll: ${res.status} ${res.text}`)
  return res.body
}

/** A server with the real bundled agent enrolled and online; it drives `caddy` when given. */
export async function startOnlineAgent(
  api: Pick<ApiTarget, 'url' | 'http'>,
  token: string,
  name: string,
  caddy?: { agentEnv: Record<string, string> },
): Promise<{ id: string; agent: Child }> {
  const server = await createServer(api.http, token, name)
  const agent = track(
    startAgentProcess({
      api: api.url,
      token: server.enrollmentToken,
      stateDir: tempDir('berth-bench-agent-'),
      caddy,
    }),
  )
  await waitFor(
    `server ${name} to come online`,
    async () => {
      if (!agent.running) throw new Error(`the agent exited:\n${agent.output}`)
      const res = await api.http.get<{ server: Server }>(`/servers/${server.id}`, { token })
      return res.body.server?.status === 'online'
    },
    30_000,
  )
  if (agent.proc.pid === undefined) throw new Error('the agent has no pid')
  return { id: server.id, agent }
}

/** Runs `task` over `items` with at most `limit` in flight; results keep the items' order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

// ------------------------------------------------------------------ measures

/** Resident set size of a process in KB; one that is gone reads as a failed bench, not as 0. */
export function rssKb(pid: number): number {
  const bytes = rssOf(pid)
  if (bytes === 0) throw new Error(`no VmRSS for pid ${pid}`)
  return bytes / 1024
}

/** The median of `samples` VmRSS readings of each pid, `everyMs` apart (taken together, so both see the same moments). */
export async function medianRssKb(pids: readonly number[], samples = 5, everyMs = 500): Promise<number[]> {
  const readings: number[][] = []
  for (let s = 0; s < samples; s++) {
    if (s > 0) await sleep(everyMs)
    readings.push(pids.map(rssKb))
  }
  return pids.map((_, i) =>
    percentile(
      readings.map((r) => r[i] ?? Number.NaN),
      50,
    ),
  )
}

const CLOCK_TICKS_PER_S = 100

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which may itself hold spaces; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S
}

/**
 * Runs `round` over and over for `ms`, recording nothing: a bench measures a settled API and
 * agent, not the seconds after they start, while they still compile and collect their start-up heaps.
 */
export async function warmUp(ms: number, round: () => Promise<void>): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) await round()
}

/** The p-th percentile (nearest rank) of the values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

export interface Summary {
  n: number
  p50: number
  p90: number
  p99: number
  max: number
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: percentile(values, 100),
  }
}

// ------------------------------------------------------------------ output

/** One table row of a latency summary in ms: name, count, p50, p90, p99, max. */
export function summaryRow(name: string, s: Summary): string[] {
  return [name, String(s.n), fmt(s.p50, 3), fmt(s.p90, 3), fmt(s.p99, 3), fmt(s.max, 3)]
}

/** A number with `digits` decimals, or "-" when there is none. */
export function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-'
}

export function verdict(ok: boolean): 'PASS' | 'MISS' {
  return ok ? 'PASS' : 'MISS'
}

/** Prints rows as a table: the first column left-aligned, the others right-aligned. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
}

/** Prints the checks (name, measured, target, met) as a table with PASS/MISS; true when all are met. */
export function printChecks(checks: readonly (readonly [string, string, string, boolean])[]): boolean {
  printTable(
    ['check', 'measured', 'target', ''],
    checks.map(([name, got, want, ok]) => [name, got, want, verdict(ok)]),
  )
  return checks.every((c) => c[3])
}

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 })

/**
 * One HTTP request over a kept-alive connection with node:http, the same kind of client
 * dockerode uses for the Docker baseline, so the two sides are timed through comparable clients.
 */
export function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: keepAlive }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}
