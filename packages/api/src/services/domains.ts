import {
  type CertificateStatus,
  type CreateDomainBody,
  type DomainView,
  newId,
  type ProxyDomain,
} from '@berth/shared'
import { and, asc, eq } from 'drizzle-orm'
import type { ActorContext } from '../context.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { apps, domains, servers } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { log } from '../lib/log.ts'
import { isoOrNull } from '../lib/time.ts'
import { findApp } from './apps.ts'
import { automaticDomain, automaticDomainOf, syncProxy, syncProxyQuietly, toProxyDomain } from './proxy.ts'
import { findServer } from './servers.ts'

// An app's domains: the automatic one its server gives it, and those added by hand.

type DomainRow = typeof domains.$inferSelect
type ServerRow = typeof servers.$inferSelect

/** The id the automatic domain is shown with; it is not stored. */
export const AUTOMATIC_DOMAIN_ID = 'automatic'
/** The agent routes at most 100 hostnames an app: these and the automatic one. */
const MAX_DOMAINS = 99
/** A listing waits this long for the certificates Caddy serves before it shows the stored ones. */
const STATUS_TIMEOUT_MS = 5_000

const proxyMissing = (server: ServerRow) =>
  new ApiError(
    'state_error',
    `the server ${server.name} has no Caddy the agent can reach; install Caddy beside the agent (Debian: apt install caddy, then systemctl enable --now caddy-api) and start the agent with --caddy-admin; see docs/agent.md`,
    { code: 'proxy_missing' },
  )

const taken = (hostname: string, appName: string, how: string) =>
  new ApiError('conflict', `${hostname} is ${how} of the app ${appName}`, {
    code: 'hostname_taken',
    details: { hostname },
  })

/** Refuses a hostname any app has: stored as a domain, or as its automatic domain. */
async function assertHostnameFree(ctx: ActorContext, hostname: string): Promise<void> {
  const [stored] = await ctx.db
    .select({ app: apps.name })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId))
    .where(eq(domains.hostname, hostname))
    .limit(1)
  if (stored) throw taken(hostname, stored.app, 'a domain')
  // An automatic domain starts with its app's name, and app names are unique.
  const label = hostname.slice(0, hostname.indexOf('.'))
  const [named] = await ctx.db
    .select({ app: apps.name, server: servers })
    .from(apps)
    .innerJoin(servers, eq(servers.id, apps.serverId))
    .where(eq(apps.name, label))
    .limit(1)
  if (named && automaticDomain(named.app, named.server)?.hostname === hostname) {
    throw taken(hostname, named.app, 'the automatic domain')
  }
}

const ownDomains = (ctx: ActorContext, appId: string) =>
  ctx.db
    .select()
    .from(domains)
    .where(eq(domains.appId, appId))
    .orderBy(asc(domains.createdAt), asc(domains.id))

/** A certificate as stored and as the agent reads it (expiry in ms). */
type Certificate = Omit<CertificateStatus, 'hostname'>

const PENDING: Certificate = { status: 'pending', reason: null, expires_at: null, issuer: null }

function storedCertificate(row: DomainRow): Certificate {
  if (!row.certStatus) return PENDING
  return {
    status: row.certStatus,
    reason: row.certReason,
    expires_at: row.certExpiresAt,
    issuer: row.certIssuer,
  }
}

function toDomainView(
  appId: string,
  domain: ProxyDomain,
  extra: { id: string; automatic: boolean; certificate: Certificate | null; createdAt: number | null },
): DomainView {
  const cert = extra.certificate
  return {
    id: extra.id,
    app_id: appId,
    ...domain,
    automatic: extra.automatic,
    certificate: domain.https === 'off' || !cert ? null : { ...cert, expires_at: isoOrNull(cert.expires_at) },
    created_at: isoOrNull(extra.createdAt),
  }
}

export async function addDomain(
  ctx: ActorContext,
  { appId, body }: { appId: string; body: CreateDomainBody },
): Promise<DomainView> {
  const app = await findApp(ctx, appId)
  const server = await findServer(ctx, app.serverId)
  if (!server.proxy) throw proxyMissing(server)
  await assertHostnameFree(ctx, body.hostname)
  const own = await ownDomains(ctx, app.id)
  if (own.length >= MAX_DOMAINS)
    throw new ApiError('state_error', `an app has at most ${MAX_DOMAINS} domains`)
  if (body.redirect_to) {
    const names = [(await automaticDomainOf(ctx, app.name, server))?.hostname, ...own.map((d) => d.hostname)]
    if (!names.includes(body.redirect_to)) {
      throw new ApiError('state_error', `${body.redirect_to} is not a domain of the app ${app.name}`, {
        code: 'unknown_redirect_target',
        details: { redirect_to: body.redirect_to },
      })
    }
  }
  const row: DomainRow = {
    id: newId('domain', ctx.clock.now()),
    appId: app.id,
    hostname: body.hostname,
    https: body.https,
    redirectHttp: body.https !== 'off' && body.redirect_http,
    redirectTo: body.redirect_to ?? null,
    certStatus: null,
    certReason: null,
    certExpiresAt: null,
    certIssuer: null,
    certCheckedAt: null,
    createdAt: ctx.clock.now(),
  }
  try {
    await ctx.db.insert(domains).values(row)
  } catch (err) {
    if (isUniqueViolation(err)) throw taken(body.hostname, app.name, 'a domain')
    throw err
  }
  try {
    await syncProxy(ctx, server.id)
  } catch (err) {
    // An offline server gets the domain at its next hello; one whose agent refused it does not keep it.
    if (!(err instanceof ApiError && err.kind === 'agent_offline')) {
      await ctx.db.delete(domains).where(eq(domains.id, row.id))
      await syncProxyQuietly(ctx, server.id)
      throw err
    }
  }
  return toDomainView(app.id, toProxyDomain(row), {
    id: row.id,
    automatic: false,
    certificate: PENDING,
    createdAt: row.createdAt,
  })
}

/**
 * The certificates the server's Caddy serves for `hostnames`, stored for the domains among them;
 * an empty map when the server is offline or does not answer in time (the stored ones are shown).
 */
async function readCertificates(
  ctx: ActorContext,
  { server, hostnames, rows }: { server: ServerRow; hostnames: string[]; rows: DomainRow[] },
): Promise<Map<string, CertificateStatus>> {
  if (!server.proxy || hostnames.length === 0 || !(await ctx.hub.online(server.id))) return new Map()
  let certificates: CertificateStatus[]
  try {
    const status = await ctx.hub.call(
      server.id,
      'proxy.status',
      { hostnames },
      { timeoutMs: STATUS_TIMEOUT_MS },
    )
    certificates = status.certificates
  } catch (err) {
    log.warn(`the certificates of server ${server.id} were not read`, err)
    return new Map()
  }
  const read = new Map(certificates.map((c) => [c.hostname, c]))
  const now = ctx.clock.now()
  const writes = rows.flatMap((row) => {
    const cert = read.get(row.hostname)
    if (!cert) return []
    const set = {
      certStatus: cert.status,
      certReason: cert.reason,
      certExpiresAt: cert.expires_at,
      certIssuer: cert.issuer,
      certCheckedAt: now,
    }
    return [ctx.db.update(domains).set(set).where(eq(domains.id, row.id))]
  })
  const [first, ...rest] = writes
  if (first) await ctx.db.batch([first, ...rest])
  return read
}

/** The app's domains, the automatic one first (when its server has a proxy), with their certificates. */
export async function listDomains(ctx: ActorContext, appId: string): Promise<{ domains: DomainView[] }> {
  const app = await findApp(ctx, appId)
  const server = await findServer(ctx, app.serverId)
  const rows = await ownDomains(ctx, app.id)
  const automatic = server.proxy ? await automaticDomainOf(ctx, app.name, server) : null
  const all = [...(automatic ? [automatic] : []), ...rows.map(toProxyDomain)]
  const hostnames = all.filter((d) => d.https !== 'off').map((d) => d.hostname)
  const read = await readCertificates(ctx, { server, hostnames, rows })
  const fromCaddy = (hostname: string) => {
    const cert = read.get(hostname)
    return cert
      ? { status: cert.status, reason: cert.reason, expires_at: cert.expires_at, issuer: cert.issuer }
      : null
  }
  const views = rows.map((row) =>
    toDomainView(app.id, toProxyDomain(row), {
      id: row.id,
      automatic: false,
      certificate: fromCaddy(row.hostname) ?? storedCertificate(row),
      createdAt: row.createdAt,
    }),
  )
  if (automatic) {
    views.unshift(
      toDomainView(app.id, automatic, {
        id: AUTOMATIC_DOMAIN_ID,
        automatic: true,
        certificate: fromCaddy(automatic.hostname) ?? PENDING,
        createdAt: null,
      }),
    )
  }
  return { domains: views }
}

/** Removes a domain the app was given by hand; its route goes from Caddy. */
export async function removeDomain(
  ctx: ActorContext,
  { appId, id }: { appId: string; id: string },
): Promise<void> {
  const app = await findApp(ctx, appId)
  if (id === AUTOMATIC_DOMAIN_ID) {
    throw new ApiError(
      'state_error',
      'the automatic domain comes from the server’s base_domain and cannot be removed; change the server’s base_domain instead',
      { code: 'automatic_domain' },
    )
  }
  const [row] = await ctx.db
    .select()
    .from(domains)
    .where(and(eq(domains.id, id), eq(domains.appId, app.id)))
    .limit(1)
  if (!row) throw notFound('domain', id)
  const [redirecting] = await ctx.db
    .select({ hostname: domains.hostname })
    .from(domains)
    .where(and(eq(domains.appId, app.id), eq(domains.redirectTo, row.hostname)))
    .limit(1)
  if (redirecting) {
    throw new ApiError(
      'state_error',
      `${redirecting.hostname} redirects to ${row.hostname}; remove it first`,
      {
        code: 'redirect_target_in_use',
        details: { hostname: redirecting.hostname },
      },
    )
  }
  await ctx.db.delete(domains).where(eq(domains.id, row.id))
  await syncProxyQuietly(ctx, app.serverId)
}
