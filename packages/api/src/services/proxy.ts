import {
  type AppRoutes,
  automaticHostname,
  type OpArgs,
  type ProxyDomain,
  proxyStateEvent,
} from '@berth/shared'
import { asc, eq, inArray } from 'drizzle-orm'
import type { ServiceContext } from '../context.ts'
import { boundSlices } from '../db/index.ts'
import { apps, domains, servers } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { log } from '../lib/log.ts'

// What each server's Caddy is told to route: every domain of every app of the server.

type ServerRow = typeof servers.$inferSelect
type DomainRow = typeof domains.$inferSelect

/** Long enough for Caddy to load a config with many routes; the agent answers once it did. */
const SYNC_TIMEOUT_MS = 30_000

/** The domain an app gets from its server's settings, or null when the server has neither base domain nor address. */
export function automaticDomain(
  appName: string,
  server: Pick<ServerRow, 'baseDomain' | 'baseDomainHttps' | 'ipv4'>,
): ProxyDomain | null {
  const hostname = automaticHostname(appName, server.baseDomain, server.ipv4)
  if (!hostname) return null
  const https = server.baseDomainHttps
  return { hostname, https, redirect_http: https !== 'off', redirect_to: null }
}

/** Which of `hostnames` an app holds as a domain: an automatic domain yields to a domain added by hand. */
async function heldHostnames(ctx: ServiceContext, hostnames: string[]): Promise<Set<string>> {
  const held = new Set<string>()
  for (const slice of boundSlices(hostnames)) {
    const rows = await ctx.db
      .select({ hostname: domains.hostname })
      .from(domains)
      .where(inArray(domains.hostname, slice))
    for (const row of rows) held.add(row.hostname)
  }
  return held
}

/** The app's automatic domain, unless an app holds that hostname as a domain. */
export async function automaticDomainOf(
  ctx: ServiceContext,
  appName: string,
  server: Pick<ServerRow, 'baseDomain' | 'baseDomainHttps' | 'ipv4'>,
): Promise<ProxyDomain | null> {
  const automatic = automaticDomain(appName, server)
  if (!automatic || (await heldHostnames(ctx, [automatic.hostname])).size > 0) return null
  return automatic
}

export const toProxyDomain = (row: DomainRow): ProxyDomain => ({
  hostname: row.hostname,
  https: row.https,
  redirect_http: row.redirectHttp,
  redirect_to: row.redirectTo,
})

/** What `proxy.sync` hands a server's agent: its certificate settings and each app's domains, automatic one first. */
export async function proxyTable(ctx: ServiceContext, serverId: string): Promise<OpArgs<'proxy.sync'>> {
  const [server] = await ctx.db.select().from(servers).where(eq(servers.id, serverId)).limit(1)
  if (!server) throw notFound('server', serverId)
  const appRows = await ctx.db
    .select({ id: apps.id, name: apps.name })
    .from(apps)
    .where(eq(apps.serverId, serverId))
    .orderBy(apps.id)
  // One join, not an IN list: D1 binds at most 100 values a statement.
  const stored = await ctx.db
    .select({ domain: domains })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId))
    .where(eq(apps.serverId, serverId))
    .orderBy(asc(domains.createdAt), asc(domains.id))
  const byApp = new Map<string, ProxyDomain[]>(appRows.map((a) => [a.id, []]))
  for (const { domain } of stored) byApp.get(domain.appId)?.push(toProxyDomain(domain))
  const automatics = new Map(appRows.map((app) => [app.id, automaticDomain(app.name, server)]))
  const held = await heldHostnames(
    ctx,
    [...automatics.values()].flatMap((d) => (d ? [d.hostname] : [])),
  )
  const table: AppRoutes[] = appRows.map((app) => {
    const candidate = automatics.get(app.id)
    const automatic = candidate && !held.has(candidate.hostname) ? candidate : null
    const own = byApp.get(app.id) ?? []
    return { app_id: app.id, domains: automatic ? [automatic, ...own] : own }
  })
  return {
    settings: { acme_directory: server.acmeDirectory, acme_email: server.acmeEmail },
    apps: table,
  }
}

/** Hands a server's agent the routes of all its apps; throws what the call throws (agent_offline when it is away). */
export async function syncProxy(ctx: ServiceContext, serverId: string): Promise<void> {
  await ctx.hub.call(serverId, 'proxy.sync', await proxyTable(ctx, serverId), { timeoutMs: SYNC_TIMEOUT_MS })
}

/**
 * syncProxy for work that must not fail because of it: an offline server is synced at its next
 * hello, and any other failure is logged (the next hello syncs again).
 */
export async function syncProxyQuietly(ctx: ServiceContext, serverId: string): Promise<void> {
  try {
    await syncProxy(ctx, serverId)
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'agent_offline') return
    log.warn(`the proxy routes of server ${serverId} were not synced`, err)
  }
}

/** Takes in an agent's `proxy.state` event: its host's Caddy came or went. A Caddy that came gets the routes. */
export async function recordProxyState(
  ctx: ServiceContext,
  { serverId, data }: { serverId: string; data: unknown },
): Promise<void> {
  const parsed = proxyStateEvent.safeParse(data)
  if (!parsed.success) {
    log.warn(`server ${serverId} sent a proxy state that does not parse`)
    return
  }
  const { proxy } = parsed.data
  await ctx.db.update(servers).set({ proxy }).where(eq(servers.id, serverId))
  // Not awaited, as at a hello: the agent's later frames are recorded while it loads the routes.
  if (proxy) void syncProxyQuietly(ctx, serverId)
}
