import { execFile } from 'node:child_process'
import { join } from 'node:path'
import {
  type AppRoutes,
  appRoutes,
  type OpArgs,
  type OpResult,
  type ProxyDomain,
  type ProxyInfo,
  proxySettings,
} from '@berth/shared'
import { z } from 'zod'
import { Mutex } from '../concurrency.ts'
import { JsonRecord } from '../deploy/record.ts'
import { wait } from '../link/backoff.ts'
import { type Log, messageOf } from '../log.ts'
import { type CaddyAdmin, CaddyError, describeEndpoint } from './admin.ts'
import { applyConfig } from './apply.ts'
import { readCertificates } from './certificates.ts'
import { desiredConfig, type FrontDoorPorts, type ServedApp } from './config.ts'
import { configLoadWarning } from './reuseport.ts'

/** How often Caddy is looked at, to re-assert Berth's routes after it restarted or lost them. */
export const CHECK_MS = 5_000
const DRAIN_POLL_MS = 100

const stored = z.object({
  /** Caddy answered this agent once: apps are served through it, never by the agent itself. */
  engaged: z.boolean(),
  /** The API has handed over its table at least once: apps it does not list were deleted. */
  synced: z.boolean().default(false),
  settings: proxySettings,
  apps: z.array(appRoutes),
})
type Stored = z.infer<typeof stored>

export interface FrontDoorOptions {
  admin: CaddyAdmin
  ports: FrontDoorPorts
  /** The file Caddy writes its certificate log to, which the agent reads failures from; null for none. */
  tlsLog: string | null
  workDir: string
  log: Log
  /** Told whenever Caddy starts or stops answering. */
  changed(proxy: ProxyInfo | null): void
  checkMs?: number
  /** The kernel setting read for configLoadWarning; Linux's own file otherwise. */
  tcpMigrateReq?: string
}

/**
 * The host's Caddy as the apps' front door: what Berth wants it to hold (every served app's
 * upstreams, host port and domains), written to Caddy on each change and looked at again every
 * few seconds, so routes come back after a Caddy restart. Caddy keeps serving the last routes
 * whatever happens to the agent.
 */
export class FrontDoor {
  private readonly served = new Map<string, ServedApp>()
  /** Host ports claimed for deploys under way, by port: Caddy listens on them from the claim on. */
  private readonly claims = new Map<number, string>()
  private readonly record: JsonRecord<Stored>
  private table: Stored = {
    engaged: false,
    synced: false,
    settings: { acme_directory: null, acme_email: null },
    apps: [],
  }
  private info: ProxyInfo | null = null
  private readonly lock = new Mutex()
  private version: string | null | undefined
  private lookedAt: () => void = () => {}
  private restoredAt: () => void = () => {}
  /**
   * Settles once the apps running on the host are known (restore): until then nothing is written
   * to Caddy, since a table without them would take their routes out.
   */
  private readonly restored = new Promise<void>((resolve) => {
    this.restoredAt = resolve
  })
  /** Settles once the agent has looked for Caddy for the first time. */
  readonly looked = new Promise<void>((resolve) => {
    this.lookedAt = resolve
  })

  constructor(private readonly options: FrontDoorOptions) {
    this.record = new JsonRecord(join(options.workDir, 'proxy.json'), stored, this.table)
  }

  /** Caddy as last seen; null when it did not answer. */
  get proxy(): ProxyInfo | null {
    return this.info
  }

  /** Whether apps go through Caddy: it answered this agent, now or in an earlier run. */
  get engaged(): boolean {
    return this.table.engaged
  }

  /** Reads what the last run was told, and whether Caddy answers now. */
  async start(): Promise<void> {
    this.table = await this.record.read()
    await this.look()
    this.lookedAt()
  }

  /** The app as Caddy serves it now, if it does. */
  servedApp(appId: string): ServedApp | undefined {
    return this.served.get(appId)
  }

  servedApps(): ServedApp[] {
    return [...this.served.values()]
  }

  /** Host ports Caddy listens on for apps: routed ones and claimed ones. */
  heldPorts(): number[] {
    return [...[...this.served.values()].map((a) => a.hostPort), ...this.claims.keys()]
  }

  /**
   * Has Caddy listen on `hostPort` for `appId` now (answering 503 until the app is routed there),
   * so that nothing else on the host takes the port during the deploy. Throws, holding nothing,
   * when Caddy cannot listen there.
   */
  async claim(hostPort: number, appId: string): Promise<void> {
    this.claims.set(hostPort, appId)
    try {
      await this.apply()
    } catch (err) {
      this.claims.delete(hostPort)
      await this.apply().catch(() => {})
      throw err
    }
  }

  /** Gives up a claim a deploy no longer needs. */
  async release(hostPort: number): Promise<void> {
    if (this.claims.delete(hostPort)) await this.apply().catch(() => {})
  }

  /** Routes `app` through Caddy; on failure Caddy and this stay as they were, and the error is thrown. */
  async route(app: ServedApp): Promise<void> {
    // A deploy is the API's word that the app exists, whatever table came last.
    if (!this.table.apps.some((a) => a.app_id === app.appId)) {
      this.table = { ...this.table, apps: [...this.table.apps, { app_id: app.appId, domains: [] }] }
    }
    const before = this.served.get(app.appId)
    this.served.set(app.appId, app)
    // The app's own port server takes over its claim in the same load.
    const claimed = this.claims.get(app.hostPort)
    if (claimed === app.appId) this.claims.delete(app.hostPort)
    try {
      await this.apply()
    } catch (err) {
      if (before) this.served.set(app.appId, before)
      else this.served.delete(app.appId)
      if (claimed === app.appId) this.claims.set(app.hostPort, app.appId)
      await this.apply().catch(() => {})
      throw err
    }
  }

  /**
   * Routes apps found running that are not routed yet (after the agent restarted), in one change;
   * the first call opens the way for every other change.
   */
  async adopt(apps: readonly ServedApp[]): Promise<void> {
    let added = 0
    for (const app of apps) {
      if (this.served.has(app.appId)) continue
      this.served.set(app.appId, app)
      added++
    }
    this.restoredAt()
    if (added > 0) await this.apply()
  }

  /** Stops routing an app: its host port and domains go from Caddy. */
  async forget(appId: string): Promise<void> {
    if (!this.served.delete(appId)) return
    await this.apply()
  }

  /** Takes the server's domain table from the API and routes by it. */
  async sync(table: OpArgs<'proxy.sync'>): Promise<OpResult<'proxy.sync'>> {
    this.table = { ...this.table, synced: true, settings: table.settings, apps: table.apps }
    await this.record.update((doc) => Object.assign(doc, this.table))
    await this.apply().catch((err: unknown) => this.options.log(`cannot update Caddy: ${messageOf(err)}`))
    return { proxy: this.info }
  }

  /** Resolves once no request Caddy sent to `upstreams` is in flight, or after `ms`. */
  async drain(addresses: readonly string[], ms: number): Promise<void> {
    const until = Date.now() + ms
    const wanted = new Set(addresses)
    while (Date.now() < until) {
      const listed = await this.options.admin
        .get<{ address: string; num_requests: number }[]>('/reverse_proxy/upstreams')
        .catch(() => null)
      if (!listed?.some((u) => wanted.has(u.address) && u.num_requests > 0)) return
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
    }
  }

  async certificates(hostnames: readonly string[]): Promise<OpResult<'proxy.status'>> {
    const host = 'url' in this.options.admin.endpoint ? this.options.admin.endpoint.url.hostname : '127.0.0.1'
    const certificates = await readCertificates({
      hostnames,
      host,
      port: this.options.ports.https,
      tlsLog: this.options.tlsLog,
    })
    return { proxy: this.info, certificates }
  }

  /** Re-asserts Berth's routes every few seconds until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.options.checkMs ?? CHECK_MS
    while (!signal.aborted) {
      await wait(every, signal)
      if (signal.aborted) return
      await this.apply().catch(() => {})
    }
  }

  private domainsOf(): Map<string, ProxyDomain[]> {
    return new Map(this.table.apps.map((a: AppRoutes) => [a.app_id, a.domains]))
  }

  /** Writes what Berth wants into Caddy, one apply at a time. */
  private async apply(): Promise<void> {
    await this.restored
    return this.lock.run(async () => {
      // An app the API no longer lists was deleted (maybe while the agent was away): its
      // containers may still run, but Caddy stops sending it requests.
      const listed = new Set(this.table.apps.map((a) => a.app_id))
      const desired = desiredConfig({
        apps: [...this.served.values()].filter((a) => !this.table.synced || listed.has(a.appId)),
        domains: this.domainsOf(),
        settings: this.table.settings,
        ports: this.options.ports,
        tlsLog: this.options.tlsLog,
        claims: this.claims,
      })
      try {
        const { writes } = await applyConfig(this.options.admin, desired, this.options.ports)
        await this.seen(true)
        if (writes > 0) this.options.log(`Caddy: ${writes} change(s) to Berth's routes`)
      } catch (err) {
        await this.seen(false, err)
        throw err
      }
    })
  }

  /** Whether Caddy answers now, without changing anything. */
  private async look(): Promise<void> {
    try {
      await this.options.admin.get('/config/')
      await this.seen(true)
    } catch (err) {
      await this.seen(false, err)
    }
  }

  private async seen(answering: boolean, err?: unknown): Promise<void> {
    const was = this.info
    if (answering) {
      this.version ??= await caddyVersion()
      this.info = { kind: 'caddy', version: this.version }
      if (!this.table.engaged) {
        this.table.engaged = true
        await this.record.update((doc) => {
          doc.engaged = true
        })
      }
    } else if (!(err instanceof CaddyError && err.status > 0)) {
      // Caddy refusing a change still answers; only an endpoint that does not is gone.
      this.info = null
    }
    if ((was === null) !== (this.info === null)) {
      const where = describeEndpoint(this.options.admin.endpoint)
      this.options.log(
        this.info ? `Caddy answers at ${where}` : `Caddy does not answer at ${where}: ${messageOf(err)}`,
      )
      this.options.changed(this.info)
      if (this.info) {
        const warning = await configLoadWarning(this.options.tcpMigrateReq)
        if (warning) this.options.log(warning)
      }
    }
  }
}

/** The version of the `caddy` on this host's PATH, when there is one (Caddy's admin API does not say). */
function caddyVersion(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('caddy', ['version'], { timeout: 5_000 }, (err, stdout) => {
      resolve(err ? null : (stdout.trim().split(/\s+/)[0] ?? '').slice(0, 64) || null)
    })
  })
}
