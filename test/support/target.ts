import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { databaseFile } from './db.ts'
import { type Client, client, waitForHealth } from './http.ts'
import { type Child, freePort, processAlive, rssOf, spawnNode, waitFor } from './process.ts'
import { startWorkerdApi } from './workerd.ts'

/** Heartbeats in the tests are fast so offline detection is seen within seconds. */
export const TEST_HEARTBEAT_MS = 400

export interface TargetOptions {
  env?: Record<string, string>
  localAgent?: boolean
  /** false: the API's own defaults, as a benchmark measures it, not the tests' fast heartbeats. */
  testSettings?: boolean
  /** The runtime, for a suite that needs one whatever BERTH_TEST_TARGET says. */
  target?: 'node' | 'workerd'
}

/** The API under test, started as its own process; which runtime is chosen by BERTH_TEST_TARGET. */
export interface ApiTarget {
  url: string
  http: Client
  dataDir: string
  /** SQL against the API's real database file, for what the HTTP API does not show. */
  sql<T = Record<string, unknown>>(statement: string, args?: (string | number)[]): Promise<T[]>
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>
  /** SIGTERM, as an operator stopping it would; its port and data stay for `restart`. */
  halt(): Promise<void>
  /** Starts the API again on the same port and database. */
  restart(): Promise<void>
  stop(): Promise<void>
  output(): string
  /** The process started for the API: the Node API itself, or `wrangler dev`. */
  pid(): number
  /** Resident memory of what serves the API (the Node process, or workerd), in bytes. */
  rssBytes(): number
  /** workerd only: the DevTools inspector `wrangler dev` serves for the worker. */
  inspectorUrl?: string
}

/** The settings both targets start the API with; a test's `env` goes over them. */
const TEST_SETTINGS = {
  BERTH_HEARTBEAT_MS: String(TEST_HEARTBEAT_MS),
  BERTH_CALL_TIMEOUT_MS: '5000',
}

export async function startApi(opts: TargetOptions = {}): Promise<ApiTarget> {
  const target = opts.target ?? process.env.BERTH_TEST_TARGET ?? 'node'
  if (target === 'node') return startNodeApi(opts)
  if (target === 'workerd') return startWorkerdApi(opts, opts.testSettings === false ? {} : TEST_SETTINGS)
  throw new Error(`unknown BERTH_TEST_TARGET ${target}; known: node, workerd`)
}

/** The local agent of `npm start` outlives the API by design; a test's data folder goes with it. */
async function stopLocalAgent(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'local-agent.pid')
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8'))
  if (!processAlive(pid)) return
  process.kill(pid, 'SIGTERM')
  await waitFor('the local agent to stop', () => !processAlive(pid))
}

async function startNodeApi(opts: TargetOptions): Promise<ApiTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env = {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `file:${join(dataDir, 'berth.db')}`,
    BERTH_DATA_DIR: dataDir,
    ...(opts.testSettings === false ? {} : TEST_SETTINGS),
    BERTH_LOCAL_AGENT: opts.localAgent ? 'auto' : 'off',
    ...opts.env,
  }
  let child: Child
  let log = ''
  const http = client(url)
  const launch = async () => {
    child = spawnNode(['--import', 'tsx', 'packages/api/src/runtime/node/main.ts'], env)
    await waitForHealth(http, child, 'the API')
  }
  await launch()
  const db = databaseFile(() => env.DATABASE_URL)
  return {
    url,
    http,
    dataDir,
    sql: db.sql,
    async kill() {
      log += child.output
      await child.stop('SIGKILL')
    },
    async halt() {
      log += child.output
      await child.stop()
    },
    async restart() {
      log += child.output
      await child.stop()
      await launch()
    },
    async stop() {
      db.close()
      await child.stop()
      await stopLocalAgent(dataDir)
      rmSync(dataDir, { recursive: true, force: true })
    },
    output: () => log + child.output,
    pid: () => child.proc.pid as number,
    rssBytes: () => rssOf(child.proc.pid as number),
  }
}
