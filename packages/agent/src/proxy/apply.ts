import { type CaddyAdmin, CaddyError } from './admin.ts'
import {
  canonical,
  type DesiredConfig,
  type FrontDoorPorts,
  ID_PREFIX,
  isPortServer,
  TLS_LOG,
} from './config.ts'

// Brings the host's Caddy to what Berth wants. Caddy loads its whole config again on every change,
// and each load in Caddy 2.6 can reset a connection being accepted, so all of Berth's changes to
// the apps go in one write of `/config/apps`, made from what Caddy holds (guarded by its ETag, so
// a change someone else made meanwhile is never overwritten) with only Berth's objects changed.

type Json = Record<string, unknown>
interface CaddyServer {
  listen?: string[]
  routes?: Json[]
}
interface CaddyApps {
  http?: { http_port?: number; https_port?: number; servers?: Record<string, CaddyServer> }
  tls?: { automation?: { policies?: Json[] } }
  pki?: unknown
  [app: string]: unknown
}
interface CaddyConfig {
  logging?: { logs?: Record<string, unknown> }
  apps?: CaddyApps
  [key: string]: unknown
}

const idOf = (o: Json) => (typeof o['@id'] === 'string' ? o['@id'] : '')
const isBerths = (o: Json) => idOf(o).startsWith(ID_PREFIX)

/**
 * Caddy's `apps` with Berth's part as `desired` wants it and everything else as it was: Berth's
 * routes in place where they are (new ones first, wildcards last), its policies first, its port
 * servers whole. A server of the host's own on Berth's domain port takes Berth's routes, since
 * Caddy lets only one server listen on an address.
 */
export function nextApps(current: CaddyApps, desired: DesiredConfig, ports: FrontDoorPorts): CaddyApps {
  const apps = structuredClone(current)
  const wantsHttp = desired.routes.length > 0 || desired.portServers.length > 0
  if (wantsHttp || apps.http) apps.http = { ...apps.http, servers: { ...apps.http?.servers } }
  const servers = apps.http?.servers ?? {}

  if (desired.routes.length > 0 && apps.http) {
    // Caddy decides which of its servers is the plain-HTTP one (and where redirects go) by these.
    if ((apps.http.http_port ?? 80) !== ports.http) apps.http.http_port = ports.http
    if ((apps.http.https_port ?? 443) !== ports.https) apps.http.https_port = ports.https
  }
  // The local CA stays out of the host's trust store; Berth's users trust it if they want to.
  if (desired.internalCa && apps.pki === undefined) {
    apps.pki = { certificate_authorities: { local: { install_trust: false } } }
  }

  const routeServer = new Map<string, string>()
  for (const { name, server } of desired.domainServers) {
    const port = (server.listen as string[])[0] ?? ''
    const own = Object.entries(servers).find(
      ([other, s]) => !other.startsWith(ID_PREFIX) && (s.listen ?? []).some((a) => a.endsWith(port)),
    )
    if (own) routeServer.set(name, own[0])
    else servers[name] ??= structuredClone(server) as CaddyServer
  }
  for (const name of Object.keys(servers)) if (isPortServer(name)) delete servers[name]
  for (const { name, server } of desired.portServers) servers[name] = structuredClone(server) as CaddyServer

  // Berth's routes: replaced where they are, taken out when no longer wanted, new ones added.
  const wanted = new Map(desired.routes.map((r) => [r.id, r]))
  const placed = new Set<string>()
  for (const [name, server] of Object.entries(servers)) {
    if (isPortServer(name) || !server.routes) continue
    server.routes = server.routes.flatMap((route) => {
      if (!isBerths(route)) return [route]
      const want = wanted.get(idOf(route))
      if (!want) return []
      placed.add(want.id)
      return [structuredClone(want.route)]
    })
  }
  for (const r of desired.routes) {
    if (placed.has(r.id)) continue
    const target = servers[routeServer.get(r.server) ?? r.server]
    if (!target) continue
    const route = structuredClone(r.route)
    // Exact hostnames first: Caddy takes the first route that matches.
    target.routes = r.wildcard ? [...(target.routes ?? []), route] : [route, ...(target.routes ?? [])]
  }

  const existing = apps.tls?.automation?.policies ?? []
  const policies = existing.filter((p) => !isBerths(p))
  if (desired.policies.length > 0 || policies.length !== existing.length) {
    apps.tls = {
      ...apps.tls,
      automation: {
        ...apps.tls?.automation,
        policies: [...desired.policies.map((p) => p.policy), ...policies],
      },
    }
  }
  // Nothing of Berth's to hold: what was not there stays not there.
  if (apps.http && current.http?.servers === undefined && Object.keys(servers).length === 0) {
    delete apps.http.servers
    if (current.http === undefined && Object.keys(apps.http).length === 0) delete apps.http
  }
  return apps
}

/** The changes one apply made, for the log. */
export interface Applied {
  writes: number
}

const ATTEMPTS = 3

/** Makes Caddy hold `desired`, writing only when something of Berth's differs. */
export async function applyConfig(
  admin: CaddyAdmin,
  desired: DesiredConfig,
  ports: FrontDoorPorts,
): Promise<Applied> {
  let writes = 0
  for (let attempt = 1; ; attempt++) {
    const { body, etag } = await admin.getTagged<CaddyConfig | null>('/config/')
    const config = body ?? {}
    writes += await applyLog(admin, config, desired)
    const current = config.apps ?? {}
    const next = nextApps(current, desired, ports)
    if (canonical(next) === canonical(current)) return { writes }
    try {
      // An empty Caddy has no config at all: its root is set, the admin settings kept.
      if (body === null) await admin.post('/config/', { ...config, apps: next })
      else if (config.apps === undefined) await admin.put('/config/apps', next, etag)
      else await admin.patch('/config/apps', next, etag)
      return { writes: writes + 1 }
    } catch (err) {
      // Someone changed Caddy's config between the read and the write: read it again.
      if (!(err instanceof CaddyError && err.status === 412) || attempt >= ATTEMPTS) throw err
    }
  }
}

/** The certificate log Berth reads failures from, kept apart from the apps (it changes seldom). */
async function applyLog(admin: CaddyAdmin, config: CaddyConfig, desired: DesiredConfig): Promise<number> {
  const current = config.logging?.logs?.[TLS_LOG]
  if (!desired.tlsLog) {
    if (current === undefined) return 0
    await admin.delete(`/config/logging/logs/${TLS_LOG}`)
    return 1
  }
  const { log } = desired.tlsLog
  if (current !== undefined && canonical(current) === canonical(log)) return 0
  if (current !== undefined) await admin.patch(`/config/logging/logs/${TLS_LOG}`, log)
  else if (config.logging?.logs) await admin.put(`/config/logging/logs/${TLS_LOG}`, log)
  else if (config.logging) await admin.put('/config/logging/logs', { [TLS_LOG]: log })
  else await admin.put('/config/logging', { logs: { [TLS_LOG]: log } })
  return 1
}
