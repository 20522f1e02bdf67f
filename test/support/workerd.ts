import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { databaseFile } from './db.ts'
import { client, waitForHealth } from './http.ts'
import { Child, freePort, groupRss, ROOT } from './process.ts'
import type { ApiTarget, TargetOptions } from './target.ts'

const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js')
/** Nothing leaves this machine: no metrics, no prompts, no update checks. */
const WRANGLER_ENV = { WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' }

/** The worker's settings that are secrets (`wrangler secret put`): they go into .dev.vars, not --var. */
const SECRETS = new Set(['BERTH_JWT_SECRET', 'BERTH_SECRET_KEY', 'DATABASE_AUTH_TOKEN'])
/** The worker's own settings, of all that a test's env may hold. */
const WORKER_SETTING = /^(BERTH_|DATABASE_URL$|DATABASE_AUTH_TOKEN$)/

/**
 * The API under workerd, as `wrangler dev --local` runs it: the local D1 (migrations applied
 * first) and the AgentHub Durable Object persisted in a temporary folder, secrets in a .dev.vars
 * written there, and the test's settings passed as --var. A test's DATABASE_URL (and
 * DATABASE_AUTH_TOKEN) point the worker at a libSQL server instead of D1.
 */
export async function startWorkerdApi(
  opts: TargetOptions,
  settings: Record<string, string>,
): Promise<ApiTarget> {
  if (opts.localAgent) throw new Error('the workerd target runs no local agent (a Node-only feature)')
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-workerd-'))
  const persist = join(dataDir, 'state')
  const devVars = join(dataDir, '.dev.vars')
  const secret = () => randomBytes(32).toString('base64url')
  const workerSettings = Object.entries({
    BERTH_JWT_SECRET: secret(),
    BERTH_SECRET_KEY: secret(),
    ...settings,
    ...opts.env,
  }).filter(([key]) => WORKER_SETTING.test(key))
  const secrets = workerSettings.filter(([key]) => SECRETS.has(key))
  writeFileSync(devVars, secrets.map(([key, value]) => `${key}=${value}\n`).join(''), { mode: 0o600 })
  const vars = workerSettings
    .filter(([key]) => !SECRETS.has(key))
    .flatMap(([key, value]) => ['--var', `${key}:${value}`])

  await promisify(execFile)(
    process.execPath,
    [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist],
    { cwd: ROOT, env: { ...process.env, ...WRANGLER_ENV } },
  )

  const port = await freePort()
  const inspectorPort = await freePort()
  const url = `http://127.0.0.1:${port}`
  const http = client(url)
  let child: Child
  let log = ''
  const launch = async () => {
    child = new Child(
      spawn(
        process.execPath,
        [
          WRANGLER,
          'dev',
          '--local',
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--inspector-port',
          String(inspectorPort),
          '--persist-to',
          persist,
          '--env-file',
          devVars,
          '--show-interactive-dev-session=false',
          // Serves /__scheduled, through which the maintenance ticks below run the Cron Trigger.
          '--test-scheduled',
          ...vars,
        ],
        {
          cwd: ROOT,
          env: { ...process.env, ...WRANGLER_ENV },
          stdio: ['ignore', 'pipe', 'pipe'],
          // Its own process group, so workerd goes down with wrangler.
          detached: true,
        },
      ),
    )
    await waitForHealth(http, child, 'wrangler dev', 60_000, 200)
  }
  const stop = async (signal: NodeJS.Signals) => {
    if (!child.running) return
    const group = -(child.proc.pid as number)
    try {
      process.kill(group, signal)
    } catch {
      return
    }
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL')
      } catch {
        // gone
      }
    }, 5000)
    await child.exited
    clearTimeout(timer)
    // wrangler's children (workerd) are in the same group; make sure none outlives it.
    try {
      process.kill(group, 'SIGKILL')
    } catch {
      // gone
    }
  }
  await launch()

  // Cron Triggers do not fire under wrangler dev, and fire each minute at the finest when deployed;
  // a test that asks for faster maintenance (BERTH_MAINTENANCE_MS, as on Node) gets it from here.
  const maintenanceMs = Number(opts.env?.BERTH_MAINTENANCE_MS ?? 0)
  const ticks =
    maintenanceMs > 0
      ? setInterval(() => {
          if (child.running) fetch(`${url}/__scheduled?cron=*+*+*+*+*`).catch(() => {})
        }, maintenanceMs)
      : undefined

  const db = databaseFile(() => `file:${localD1File(persist)}`)
  return {
    url,
    http,
    dataDir,
    sql: db.sql,
    async kill() {
      log += child.output
      await stop('SIGKILL')
    },
    async halt() {
      log += child.output
      await stop('SIGTERM')
    },
    async restart() {
      log += child.output
      await stop('SIGTERM')
      await launch()
    },
    async stop() {
      clearInterval(ticks)
      db.close()
      await stop('SIGTERM')
      rmSync(dataDir, { recursive: true, force: true })
    },
    output: () => log + child.output,
    inspectorUrl: `http://127.0.0.1:${inspectorPort}`,
    pid: () => child.proc.pid as number,
    // The worker and its Durable Objects run in workerd, a child of wrangler in its process group.
    rssBytes: () => groupRss(child.proc.pid as number, 'workerd'),
  }
}

/** The SQLite file behind the local D1 database, as miniflare keeps it under --persist-to. */
function localD1File(persist: string): string {
  const dir = join(persist, 'v3/d1/miniflare-D1DatabaseObject')
  const file = readdirSync(dir).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite')
  if (!file) throw new Error(`no local D1 database in ${dir}`)
  return join(dir, file)
}
