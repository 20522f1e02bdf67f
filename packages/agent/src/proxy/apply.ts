import type { CaddyAdmin } from './admin.ts'
import {
  canonical,
  type DesiredConfig,
  type FrontDoorPorts,
  ID_PREFIX,
  isPortServer,
  TLS_LOG,
} from './config.ts'

// Brings the host's Caddy to what Berth wants with the admin API's path operations: only objects
// that differ are written, each where it lives, so other config and unchanged routes stay as they are.

interface CaddyServer {
  listen?: string[]
  routes?: { '@id'?: string }[]
}
interface CaddyConfig {
  logging?: { logs?: Record<string, unknown> }
  apps?: {
    http?: { http_port?: number; https_port?: number; servers?: Record<string, CaddyServer> }
    tls?: { automation?: { policies?: { '@id'?: string }[] } }
    pki?: unknown
  }
}

/** What Berth holds in Caddy now, found by `@id` and server name. */
function berthObjects(config: CaddyConfig | null) {
  const ids = new Map<string, unknown>()
  const servers = config?.apps?.http?.servers ?? {}
  for (const server of Object.values(servers)) {
    for (const route of server.routes ?? []) {
      if (route['@id']?.startsWith(ID_PREFIX)) ids.set(route['@id'], route)
    }
  }
  for (const policy of config?.apps?.tls?.automation?.policies ?? []) {
    if (policy['@id']?.startsWith(ID_PREFIX)) ids.set(policy['@id'], policy)
  }
  return { ids, servers }
}

/** The changes one apply made, for the log. */
export interface Applied {
  writes: number
}

/**
 * Makes Caddy hold `desired`: policies first (so Caddy never asks a public CA for a Berth domain),
 * then servers and routes, then removes Berth's objects that are no longer wanted.
 */
export async function applyConfig(
  admin: CaddyAdmin,
  desired: DesiredConfig,
  ports: FrontDoorPorts,
): Promise<Applied> {
  let writes = 0
  const write = async (op: () => Promise<unknown>) => {
    await op()
    writes++
  }
  let config = await admin.get<CaddyConfig | null>('/config/')
  const needsHttp = desired.routes.length > 0 || desired.portServers.length > 0
  if (needsHttp && !config?.apps?.http?.servers) {
    await write(() => ensurePath(admin, config, ['apps', 'http', 'servers'], {}))
    config = await admin.get<CaddyConfig | null>('/config/')
  }
  const { ids, servers } = berthObjects(config)

  // Caddy decides which of its servers is the plain-HTTP one (and where redirects go) by these.
  if (desired.routes.length > 0) {
    const http = config?.apps?.http ?? {}
    if ((http.http_port ?? 80) !== ports.http)
      await write(() => admin.post('/config/apps/http/http_port', ports.http))
    if ((http.https_port ?? 443) !== ports.https)
      await write(() => admin.post('/config/apps/http/https_port', ports.https))
  }
  if (desired.internalCa && config?.apps?.pki === undefined) {
    // The local CA stays out of the host's trust store; Berth's users trust it if they want to.
    await write(() =>
      admin.put('/config/apps/pki', { certificate_authorities: { local: { install_trust: false } } }),
    )
  }

  if (!desired.tlsLog && config?.logging?.logs?.[TLS_LOG] !== undefined) {
    await write(() => admin.delete(`/config/logging/logs/${TLS_LOG}`))
  }
  if (desired.tlsLog) {
    const { name, log } = desired.tlsLog
    const current = config?.logging?.logs?.[name]
    if (current === undefined) await write(() => ensurePath(admin, config, ['logging', 'logs', name], log))
    else if (canonical(current) !== canonical(log))
      await write(() => admin.patch(`/config/logging/logs/${name}`, log))
    config = await admin.get<CaddyConfig | null>('/config/')
  }

  for (const { id, policy } of desired.policies) {
    const current = ids.get(id)
    if (current === undefined) {
      if (!config?.apps?.tls?.automation?.policies) {
        await write(() => ensurePath(admin, config, ['apps', 'tls', 'automation', 'policies'], [policy]))
        config = await admin.get<CaddyConfig | null>('/config/')
      } else if (config.apps.tls.automation.policies.length === 0)
        await write(() => admin.post('/config/apps/tls/automation/policies', policy))
      else await write(() => admin.put('/config/apps/tls/automation/policies/0', policy))
    } else if (canonical(current) !== canonical(policy)) await write(() => admin.patch(`/id/${id}`, policy))
  }

  // How many routes each server holds, to know where "first" is (Caddy cannot insert into an empty array).
  const routeCount = new Map(Object.entries(servers).map(([name, s]) => [name, s.routes?.length ?? 0]))
  // A server of the host's own on Berth's port (its own site on :443, say) takes Berth's routes:
  // Caddy lets one server listen on an address.
  const hostServers = new Map<string, string>()
  for (const { name, server } of desired.domainServers) {
    const port = (server.listen as string[])[0] ?? ''
    const own = Object.entries(servers).find(
      ([other, s]) => !other.startsWith(ID_PREFIX) && (s.listen ?? []).some((a) => a.endsWith(port)),
    )
    if (own) {
      hostServers.set(name, own[0])
      continue
    }
    if (servers[name]) continue
    await write(() => admin.put(`/config/apps/http/servers/${name}`, server))
    routeCount.set(name, 0)
  }
  for (const { name, server } of desired.portServers) {
    const current = servers[name]
    if (!current) await write(() => admin.put(`/config/apps/http/servers/${name}`, server))
    else if (canonical(current) !== canonical(server))
      await write(() => admin.patch(`/config/apps/http/servers/${name}`, server))
  }
  for (const { id, server: placeholder, wildcard, route } of desired.routes) {
    const server = hostServers.get(placeholder) ?? placeholder
    const current = ids.get(id)
    if (current === undefined) {
      const path = `/config/apps/http/servers/${server}/routes`
      const count = routeCount.get(server) ?? 0
      // Exact hostnames first: Caddy takes the first route that matches.
      await write(() => (wildcard || count === 0 ? admin.post(path, route) : admin.put(`${path}/0`, route)))
      routeCount.set(server, count + 1)
    } else if (canonical(current) !== canonical(route)) await write(() => admin.patch(`/id/${id}`, route))
  }

  const wanted = new Set([...desired.routes.map((r) => r.id), ...desired.policies.map((p) => p.id)])
  for (const id of ids.keys()) {
    if (!wanted.has(id) && !id.startsWith(`${ID_PREFIX}port-`)) await write(() => admin.delete(`/id/${id}`))
  }
  const wantedServers = new Set(desired.portServers.map((s) => s.name))
  for (const name of Object.keys(servers)) {
    if (isPortServer(name) && !wantedServers.has(name))
      await write(() => admin.delete(`/config/apps/http/servers/${name}`))
  }
  return { writes }
}

/** Creates the first missing object on `path` with what lies below it, `leaf` at the end. */
async function ensurePath(admin: CaddyAdmin, config: unknown, path: string[], leaf: unknown): Promise<void> {
  let node = config as Record<string, unknown> | null | undefined
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string
    const next = node?.[key] as Record<string, unknown> | undefined
    if (next === undefined || next === null) {
      const value = path.slice(i + 1).reduceRight<unknown>((inner, k) => ({ [k]: inner }), leaf)
      const at = `/config/${path.slice(0, i + 1).join('/')}`
      // An empty Caddy has no config at all: its root is set whole, the admin settings kept.
      if (node === null || node === undefined)
        await admin.post('/config/', { ...(config ?? {}), [key]: value })
      else await admin.put(at, value)
      return
    }
    node = next
  }
}
