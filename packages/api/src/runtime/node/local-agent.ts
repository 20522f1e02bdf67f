import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { log } from '../../lib/log.ts'
import { createServer, findServerByName, rotateEnrollment } from '../../services/servers.ts'
import { type NodeConfig, ownerOnlyFiles } from './config.ts'
import { AGENT_BUNDLE, type RunningApi } from './serve.ts'

export const LOCAL_SERVER = 'local'

/** The Docker Engine socket of this host, when one answers a ping. */
export async function reachableDocker(dockerHost: string | undefined): Promise<string | null> {
  const socketPath = dockerHost?.startsWith('unix://')
    ? dockerHost.slice(7)
    : dockerHost
      ? null
      : '/var/run/docker.sock'
  if (!socketPath || !existsSync(socketPath)) return null
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200 ? socketPath : null)
    })
    req.on('error', () => resolve(null))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/** Where the local agent keeps its files in the data folder: its agent token, its pid, its output. */
export function localAgentFiles(dataDir: string) {
  return {
    state: join(dataDir, 'local-agent.json'),
    pid: join(dataDir, 'local-agent.pid'),
    log: join(dataDir, 'local-agent.log'),
  }
}

export interface LocalAgent {
  pid: number
  /** false when the agent of an earlier start was still running and was kept. */
  started: boolean
}

/**
 * Runs the agent bundle as a process of its own for this host's Docker Engine, enrolled as the
 * server named `local`, so its apps keep answering while the API stops or restarts. One that is
 * running already for this API's URL is kept; one for another URL (a changed PORT) is replaced.
 */
export async function startLocalAgent(
  api: RunningApi,
  config: NodeConfig,
  dockerSocket: string,
): Promise<LocalAgent> {
  const files = localAgentFiles(config.dataDir)
  const running = runningAgent(files.pid)
  if (running && (running.api === undefined || running.api === api.url))
    return { pid: running.pid, started: false }
  if (running) await stopProcess(running.pid)

  let token: string | undefined
  if (!existsSync(files.state)) {
    const existing = await findServerByName(api.ctx, LOCAL_SERVER)
    token = existing
      ? (await rotateEnrollment(api.ctx, { id: existing.id, ttlSeconds: undefined, apiUrl: api.url })).token
      : (
          await createServer(api.ctx, {
            body: { name: LOCAL_SERVER, description: 'The host the API runs on' },
            apiUrl: api.url,
          })
        ).enrollment.token
  }
  if (!existsSync(AGENT_BUNDLE)) throw new Error(`no agent bundle at ${AGENT_BUNDLE}: run npm run build`)
  const args = [AGENT_BUNDLE, '--api', api.url, '--state', files.state, '--docker', dockerSocket]
  // The enrollment token is passed in the environment, not on a command line that `ps` shows.
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_AGENT_TOKEN: token ?? '' }
  for (const name of ['BERTH_API_URL', 'BERTH_AGENT_STATE', 'BERTH_AGENT_WORK_DIR']) delete env[name]
  const out = openSync(files.log, 'a', 0o600)
  try {
    // Its own process group, so a signal to the API's (Ctrl-C in a terminal) leaves it running.
    const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', out, out] })
    child.on('error', (err) => log.error('the local agent did not start', err))
    child.unref()
    if (child.pid === undefined) throw new Error('the local agent did not start')
    writeFileSync(files.pid, `${child.pid}\n`, { mode: 0o600 })
    ownerOnlyFiles([files.log, files.pid])
    return { pid: child.pid, started: true }
  } finally {
    closeSync(out)
  }
}

/** The local agent of an earlier start, if its pid file names a berth agent that still runs. */
function runningAgent(pidFile: string): { pid: number; api: string | undefined } | null {
  if (!existsSync(pidFile)) return null
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    rmSync(pidFile, { force: true })
    return null
  }
  let argv: string[] | undefined
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    // no /proc (macOS): the pid is taken for the agent, its URL unknown
  }
  if (argv && !argv.some((arg) => arg.endsWith('berth-agent.mjs'))) {
    rmSync(pidFile, { force: true })
    return null
  }
  const at = argv?.indexOf('--api') ?? -1
  return { pid, api: at >= 0 ? argv?.[at + 1] : undefined }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** SIGTERM, then SIGKILL if the agent has not drained within 10 s. */
async function stopProcess(pid: number): Promise<void> {
  log.info(`stopping the local agent (pid ${pid}), started for another API address`)
  process.kill(pid, 'SIGTERM')
  for (let waited = 0; alive(pid) && waited < 10_000; waited += 100) await sleep(100)
  if (alive(pid)) process.kill(pid, 'SIGKILL')
}
