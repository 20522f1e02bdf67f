import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pebble } from './pebble.ts'
import { type Child, freePorts, spawnProcess, waitFor } from './process.ts'
import { webRequest } from './web.ts'

// The host's Caddy for the tests: Debian's caddy (scripts/ensure-caddy.sh) on free loopback ports,
// with its own storage, started as a host starts it: an admin endpoint and no servers, which the
// agent then creates through the admin API.

export { startPebble } from './pebble.ts'
export { httpGet, httpsGet, loadLoop } from './web.ts'

export interface CaddyOptions {
  /** Names the temporary folder, so a leftover one says which test made it. */
  name: string
  env?: Record<string, string>
  /** Pebble as the ACME server: Caddy trusts its directory's CA and listens where it validates. */
  pebble?: Pick<Pebble, 'caFile' | 'httpPort' | 'tlsPort'>
}

export interface AdminReply {
  status: number
  /** Parsed JSON, or the text when it is not JSON. */
  body: any
}

export interface Caddy {
  adminUrl: string
  httpPort: number
  httpsPort: number
  /** BERTH_CADDY_ADMIN, BERTH_CADDY_HTTP_PORT, BERTH_CADDY_HTTPS_PORT for the agent. */
  agentEnv: Record<string, string>
  /** A call to the admin API, e.g. admin('POST', '/config/apps/http/servers/x/routes', route). */
  admin(method: string, path: string, body?: unknown): Promise<AdminReply>
  /** GET /config/: the whole running config. */
  config(): Promise<any>
  /** PEM of Caddy's local CA root (`https: "internal"`), for clients checking what it serves. */
  localRootPem(): Promise<string>
  /** Stops and starts it on the same ports and storage; its config is the start file's again, as after a crash. */
  restart(): Promise<void>
  /** SIGKILL, leaving it down. */
  kill(): Promise<void>
  /** Stops it and removes its storage. */
  stop(): Promise<void>
  /** Its log so far (JSON lines on stderr). */
  readonly output: string
  /** The running process's id (a new one after restart()). */
  readonly pid: number | undefined
}

/** Starts Caddy and waits until its admin endpoint answers. */
export async function startCaddy(opts: CaddyOptions): Promise<Caddy> {
  const dir = mkdtempSync(join(tmpdir(), `berth-caddy-${opts.name}-`))
  const [adminPort = 0, ...free] = await freePorts(3)
  const httpPort = opts.pebble?.httpPort ?? (free[0] as number)
  const httpsPort = opts.pebble?.tlsPort ?? (free[1] as number)
  const adminUrl = `http://127.0.0.1:${adminPort}`
  const configFile = join(dir, 'caddy.json')
  // No servers: only the admin endpoint, and a local CA that never touches the machine's trust store.
  const config = {
    admin: { listen: `127.0.0.1:${adminPort}` },
    apps: { pki: { certificate_authorities: { local: { install_trust: false } } } },
  }
  writeFileSync(configFile, JSON.stringify(config))
  const env = {
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    ...(opts.pebble ? { SSL_CERT_FILE: opts.pebble.caFile } : {}),
    ...opts.env,
  }

  const admin = async (method: string, path: string, body?: unknown): Promise<AdminReply> => {
    // A new connection per call: Caddy closes kept-alive admin connections on each config load.
    const reply = await webRequest(`${adminUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    let parsed: unknown = reply.body
    try {
      parsed = reply.body ? JSON.parse(reply.body) : null
    } catch {
      // not JSON: an error message in text
    }
    return { status: reply.status, body: parsed }
  }

  let child: Child
  const start = async () => {
    child = spawnProcess('caddy', ['run', '--config', configFile], env)
    await waitFor(
      `Caddy ${opts.name} to answer on its admin endpoint`,
      async () => {
        if (!child.running) throw new Error(`caddy exited:\n${child.output}`)
        return (await admin('GET', '/config/')).status === 200
      },
      15_000,
      50,
    )
  }
  await start()

  return {
    adminUrl,
    httpPort,
    httpsPort,
    agentEnv: {
      BERTH_CADDY_ADMIN: adminUrl,
      BERTH_CADDY_HTTP_PORT: String(httpPort),
      BERTH_CADDY_HTTPS_PORT: String(httpsPort),
    },
    admin,
    async config() {
      const reply = await admin('GET', '/config/')
      if (reply.status !== 200) throw new Error(`GET /config/ answered ${reply.status}: ${reply.body}`)
      return reply.body
    },
    async localRootPem() {
      const reply = await admin('GET', '/pki/ca/local')
      if (reply.status !== 200) throw new Error(`GET /pki/ca/local answered ${reply.status}: ${reply.body}`)
      return reply.body.root_certificate
    },
    async restart() {
      await child.stop('SIGTERM', 5000)
      await start()
    },
    async kill() {
      await child.stop('SIGKILL')
    },
    async stop() {
      await child.stop('SIGTERM', 5000)
      rmSync(dir, { recursive: true, force: true })
    },
    get output() {
      return child.output
    },
    get pid() {
      return child.proc.pid
    },
  }
}
