import { createClient, follow } from '@berth/client'
import type { Page } from 'playwright-core'
import { launchChromium, signInInBrowser } from '../test/support/browser.ts'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { ADMIN, registerAdmin } from '../test/support/flows.ts'
import {
  fmt,
  onCleanUp,
  printChecks,
  printTable,
  runBench,
  sleep,
  startApi,
  startOnlineAgent,
  verdict,
  waitFor,
} from './support.ts'

// The container page under a log flood: a container printing 5,000 lines/s, its page open in
// Chromium for 20 s. The page must stay responsive (no long task over 200 ms) and its memory
// bounded (the JS heap at 20 s about what it was at 5 s), while it keeps up with the same stream
// read by a plain `follow` loop in Node, same run.

const RATE = Number(process.env.BENCH_LINES_PER_S ?? 5_000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const NAME = `bench-dashboard-logs-${process.pid}`
const BATCH = RATE / 10

// Paced by /proc/uptime (centiseconds): a batch of RATE/10 numbered lines every 100 ms.
const SCRIPT = `pad=${'x'.repeat(60)}; read up _ < /proc/uptime; start=\${up%.*}\${up#*.}; k=0
while true; do
  seq $((k*${BATCH})) $((k*${BATCH}+${BATCH - 1})) | sed "s/.*/line & $pad/"
  echo "batch $k" >&2
  k=$((k+1))
  while :; do read up _ < /proc/uptime; now=\${up%.*}\${up#*.}; [ $now -ge $((start+k*10)) ] && break; usleep 5000; done
done`

/** The lines a plain follow loop reads in `seconds`: what Node alone keeps up with, for scale. */
async function followLoop(url: string, token: string, path: string, seconds: number) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), seconds * 1000)
  let lines = 0
  const started = performance.now()
  for await (const event of follow(createClient({ url, token }), path, {
    query: { follow: true, tail: 0 },
    signal: controller.signal,
  })) {
    if (event.event === 'stdout' || event.event === 'stderr') lines++
  }
  clearTimeout(timer)
  return lines / ((performance.now() - started) / 1000)
}

/** The page's own count of lines received ("12345 lines received"). */
async function received(page: Page): Promise<number> {
  const text = (await page.getByText(/\d+ lines received/).textContent()) ?? ''
  return Number(/(\d+) lines received/.exec(text)?.[1] ?? 0)
}

runBench('dashboard-logs', async () => {
  const removeContainer = () => removeContainers([NAME])
  process.once('exit', removeContainer)
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-dashboard-logs')
  docker('run', '-d', '--name', NAME, TEST_IMAGE, 'sh', '-c', SCRIPT)
  const id = docker('inspect', '-f', '{{.Id}}', NAME)
  await waitFor(
    'the container in the API',
    async () => (await api.http.get(`/servers/${server.id}/containers/${id}`, { token })).status === 200,
    30_000,
  )
  const path = `/servers/${server.id}/containers/${id}/logs`

  const browser = await launchChromium()
  onCleanUp(() => browser.close())
  const page = await (
    await browser.newContext({ baseURL: api.url, viewport: { width: 1280, height: 800 } })
  ).newPage()
  await page.goto('/servers')
  await signInInBrowser(page, ADMIN.email, ADMIN.password)
  await page.goto(`/servers/${server.id}/containers/${id}`)
  await page.getByText(/[1-9]\d* lines received/).waitFor({ timeout: 30_000 })
  await page.evaluate(() => {
    const w = window as unknown as { longest: number; longTasks: number }
    w.longest = 0
    w.longTasks = 0
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        w.longest = Math.max(w.longest, entry.duration)
        w.longTasks++
      }
    }).observe({ type: 'longtask' })
  })
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const heapMb = async () => {
    await cdp.send('HeapProfiler.collectGarbage')
    const { metrics } = await cdp.send('Performance.getMetrics')
    return (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? Number.NaN) / 1024 / 1024
  }

  // The same stream read by Node while the page reads it: the rate there is to keep up with.
  const baseline = followLoop(api.url, token, path, SECONDS)
  const started = performance.now()
  const at = (s: number) => sleep(Math.max(0, started + s * 1000 - performance.now()))
  await at(5)
  const heap5 = await heapMb()
  const lines5 = await received(page)
  await at(SECONDS)
  const heap20 = await heapMb()
  const lines20 = await received(page)
  const rows = await page.locator('.log-line').count()
  const { longest, longTasks } = await page.evaluate(() => {
    const w = window as unknown as { longest: number; longTasks: number }
    return { longest: w.longest, longTasks: w.longTasks }
  })
  // Responsive: a search typed now shows its answer.
  const typed = performance.now()
  await page.getByLabel('Search the log').fill('line 1')
  await page.getByText(/lines received, \d+ matching/).waitFor()
  const searchMs = performance.now() - typed
  const nodeRate = await baseline
  const pageRate = (lines20 - lines5) / (SECONDS - 5)

  printTable(
    ['reader', 'lines/s'],
    [
      ['plain follow loop in Node (baseline)', fmt(nodeRate, 0)],
      ['the container page in Chromium', fmt(pageRate, 0)],
    ],
  )
  const growth = heap20 - heap5
  const checks: [string, string, string, boolean][] = [
    ['longest long task', `${fmt(longest, 0)} ms (${longTasks} tasks)`, '<= 200 ms', longest <= 200],
    ['JS heap at 5 s / 20 s', `${fmt(heap5, 1)} / ${fmt(heap20, 1)} MB`, 'growth < 10 MB', growth < 10],
    ['page / Node lines/s', `${fmt(pageRate / nodeRate, 2)}x`, '>= 0.9x', pageRate >= 0.9 * nodeRate],
    ['log rows in the DOM', String(rows), '<= 200', rows <= 200],
    ['search answered', `${fmt(searchMs, 0)} ms`, '< 1000 ms', searchMs < 1000],
  ]
  const pass = printChecks(checks)
  console.log(
    `result: dashboard-logs ${verdict(pass)} node=${fmt(nodeRate, 0)}lines/s page=${fmt(pageRate, 0)}lines/s longest_task=${fmt(longest, 0)}ms heap5=${fmt(heap5, 1)}MB heap20=${fmt(heap20, 1)}MB`,
  )
  removeContainer()
})
