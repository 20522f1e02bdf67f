import os from 'node:os'
import { dirname, join } from 'node:path'
import { connectDocker } from './docker/index.ts'
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, wait } from './link/backoff.ts'
import { Connection } from './link/connection.ts'
import {
  defaultStatePath,
  EnrollmentError,
  enroll,
  prepareStateFolder,
  readState,
  writeState,
} from './link/enroll.ts'
import { type Log, logToStderr, messageOf } from './log.ts'
import { adminEndpoint, CaddyAdmin } from './proxy/admin.ts'

export type { Docker, DockerInfo } from './docker/index.ts'
export { connectDocker, DockerError } from './docker/index.ts'
export type { Backoff } from './link/backoff.ts'
export type { AgentState } from './link/enroll.ts'
export { defaultStatePath, EnrollmentError } from './link/enroll.ts'
export type { Log } from './log.ts'
export type { StatsRound } from './stats.ts'
export { StatsHistory, sampleRound } from './stats.ts'

export interface AgentOptions {
  /** Base URL of the Berth API, e.g. `https://berth.example.com`. */
  api: string
  /** The one-time enrollment token; needed when the state file holds no agent token for this API. */
  token?: string
  /** Where the agent token is kept; defaults to {@link defaultStatePath}. */
  statePath?: string
  /** Where deploys clone, build and keep uploads; defaults to `work` beside the state file. */
  workDir?: string
  /** The Docker Engine: a unix socket path or tcp://host:port; defaults to DOCKER_HOST, else /var/run/docker.sock. */
  docker?: string
  /** The host name this agent reports; defaults to os.hostname(). */
  name?: string
  /** Where log lines go; defaults to stderr with an ISO time. */
  log?: Log
  /** Waits between attempts to reach the API; defaults to 500 ms doubling up to 30 s, with full jitter. */
  backoff?: Backoff
  /** How long stop() lets running calls finish; defaults to 5000 ms. */
  drainMs?: number
  /** The host's Caddy; without it the agent serves apps on their host ports with its own proxy. */
  caddy?: CaddyOptions
}

export interface CaddyOptions {
  /** Its admin endpoint: an http:// URL, a unix socket path, or `off`. */
  admin: string
  httpPort: number
  httpsPort: number
  /** A file Caddy writes its certificate log to, which the agent reads failures from. */
  tlsLog: string | null
  /** How often Berth's routes are checked in Caddy; 5000 ms by default. */
  checkMs?: number
}

export interface AgentEnd {
  /** `stopped`: stop() was called. `revoked`: the API refused the agent token (server deleted or token revoked). */
  reason: 'stopped' | 'revoked'
}

export interface Agent {
  /** Lets running calls finish, closes the link with 1000 and resolves once the agent has ended. */
  stop(): Promise<void>
  /** Settles when the agent ends; rejects with an EnrollmentError when it could not enroll (already logged). */
  done: Promise<AgentEnd>
  /** The server this agent is enrolled as, once known. */
  serverId(): string | null
}

export const REVOKED_MESSAGE =
  "the API refused this agent's token: the server was deleted or its token revoked; enroll again with a new enrollment token"

interface Credentials {
  serverId: string
  agentToken: string
  /** Read from the state file rather than enrolled for just now. */
  stored: boolean
}

/**
 * Runs an agent: enrolls (or reuses the agent token in the state file), then keeps a link to the
 * API and answers its calls until stopped or revoked. Throws at once only for unusable options.
 */
export function startAgent(options: AgentOptions): Agent {
  const api = apiBaseUrl(options.api)
  const docker = connectDocker(options.docker)
  const caddyAdmin = options.caddy ? adminEndpoint(options.caddy.admin) : null
  const log = options.log ?? logToStderr
  const backoff = options.backoff ?? DEFAULT_BACKOFF
  const statePath = options.statePath ?? defaultStatePath()
  const stopping = new AbortController()
  let serverId: string | null = null

  const connection = new Connection({
    api,
    docker,
    name: options.name ?? os.hostname(),
    log,
    backoff,
    drainMs: options.drainMs ?? 5_000,
    workDir: options.workDir ?? join(dirname(statePath), 'work'),
    statePath,
    serverId: () => serverId,
    caddy:
      caddyAdmin && options.caddy
        ? {
            admin: new CaddyAdmin(caddyAdmin),
            ports: { http: options.caddy.httpPort, https: options.caddy.httpsPort },
            tlsLog: options.caddy.tlsLog,
            checkMs: options.caddy.checkMs,
          }
        : undefined,
    onWelcome: (id) => {
      serverId = id
    },
  })

  async function credentials(): Promise<Credentials | null> {
    const state = await readState(statePath, log)
    if (state && state.api === api)
      return { serverId: state.server_id, agentToken: state.agent_token, stored: true }
    if (!options.token) {
      const held = state ? `holds an agent token for ${state.api}, not ${api}` : 'holds no agent token'
      throw new EnrollmentError(
        `the state file ${statePath} ${held}; start the agent with --token <enrollment token> to enroll`,
      )
    }
    return enrollWith(options.token)
  }

  async function enrollWith(token: string): Promise<Credentials | null> {
    await prepareStateFolder(statePath)
    for (let attempt = 0; ; attempt++) {
      try {
        const enrolled = await enroll(api, token, stopping.signal)
        await writeState(statePath, { api, server_id: enrolled.server_id, agent_token: enrolled.agent_token })
        log(`enrolled as server ${enrolled.server_id}; the agent token is kept in ${statePath}`)
        return { serverId: enrolled.server_id, agentToken: enrolled.agent_token, stored: false }
      } catch (err) {
        if (stopping.signal.aborted) return null
        if (!(err instanceof EnrollmentError && err.retryable)) throw err
        const delay = backoffDelay(attempt, backoff)
        log(`${err.message}; trying again in ${delay} ms`)
        await wait(delay, stopping.signal)
        if (stopping.signal.aborted) return null
      }
    }
  }

  async function run(): Promise<AgentEnd> {
    let current = await credentials()
    let enrolledAgain = false
    while (current) {
      serverId = current.serverId
      const end = await connection.run(current.agentToken)
      if (end === 'stopped') break
      if (end === 'refused' && current.stored && options.token && !enrolledAgain) {
        enrolledAgain = true
        log('the API refused the stored agent token; enrolling again with the enrollment token given')
        current = await enrollWith(options.token)
        continue
      }
      log(REVOKED_MESSAGE)
      return { reason: 'revoked' }
    }
    return { reason: 'stopped' }
  }

  const done = run().catch((err: unknown) => {
    log(err instanceof EnrollmentError ? err.message : `the agent failed: ${messageOf(err)}`)
    throw err
  })
  // The failure is logged above; a caller that never looks at `done` must not crash on it.
  done.catch(() => {})

  return {
    done,
    serverId: () => serverId,
    async stop() {
      stopping.abort()
      await connection.stop()
      await done.catch(() => {})
    },
  }
}

/** The API's base URL without a trailing slash; only http and https. */
function apiBaseUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new TypeError(`the API URL "${raw}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`the API URL "${raw}" must start with http:// or https://`)
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}
