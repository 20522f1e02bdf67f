import type { ProxyDomain, ProxySettings } from '@berth/shared'

// What Berth wants in the host's Caddy, as plain JSON built from the apps it serves. Every object
// Berth adds carries an `@id` that starts with `berth-`; nothing else in Caddy's config is touched.

export const ID_PREFIX = 'berth-'
export const HTTPS_SERVER = 'berth-https'
export const HTTP_SERVER = 'berth-http'
const PORT_SERVER_PREFIX = 'berth-port-'
const POLICY_IDS = { acme: 'berth-tls-acme', internal: 'berth-tls-internal' } as const
export const TLS_LOG = 'berth-tls'

/** Where a container of an app answers: its bridge address and the app's port. */
export interface Upstream {
  dockerId: string
  host: string
  port: number
}

/** An app this host serves, as the front door routes it. */
export interface ServedApp {
  appId: string
  /** The host port Caddy serves the app on for users who reach it by port. */
  hostPort: number
  upstreams: Upstream[]
  /** What Caddy's active health checks GET; null: only dead upstreams are skipped. */
  health: { path: string; intervalS: number; timeoutS: number } | null
}

export interface FrontDoorPorts {
  http: number
  https: number
}

/** A route Berth keeps in one of the servers it listens with. */
export interface DesiredRoute {
  id: string
  server: string
  /** Wildcard routes go after exact ones, so an exact hostname wins. */
  wildcard: boolean
  route: Record<string, unknown>
}

export interface DesiredConfig {
  /** Servers Berth creates when missing, to hold its domain routes. */
  domainServers: { name: string; server: Record<string, unknown> }[]
  routes: DesiredRoute[]
  /** Servers Berth owns whole: one per app host port. */
  portServers: { name: string; server: Record<string, unknown> }[]
  policies: { id: string; policy: Record<string, unknown> }[]
  /** Whether a domain uses Caddy's local CA (whose trust store install Berth turns off). */
  internalCa: boolean
  /** Caddy's certificate log, which the agent reads failures from. */
  tlsLog: { name: string; log: Record<string, unknown> } | null
}

export const portServerName = (hostPort: number) => `${PORT_SERVER_PREFIX}${hostPort}`
export const isPortServer = (name: string) => name.startsWith(PORT_SERVER_PREFIX)
const dial = (u: Upstream) => `${u.host}:${u.port}`

export function reverseProxy(app: ServedApp): Record<string, unknown> {
  const health: Record<string, unknown> = {}
  if (app.health) {
    health.active = {
      uri: app.health.path,
      interval: `${app.health.intervalS}s`,
      timeout: `${app.health.timeoutS}s`,
    }
  }
  // With several containers, one that fails a request is skipped for a while; a lone one never is.
  if (app.upstreams.length > 1) health.passive = { fail_duration: '10s', max_fails: 1 }
  return {
    handler: 'reverse_proxy',
    upstreams: app.upstreams.map((u) => ({ dial: dial(u) })),
    load_balancing: {
      selection_policy: { policy: 'round_robin' },
      // A container that refuses a connection is tried again, then the next one.
      try_duration: '5s',
      try_interval: '250ms',
    },
    ...(Object.keys(health).length > 0 ? { health_checks: health } : {}),
  }
}

const redirect = (location: string) => ({
  handler: 'static_response',
  status_code: 308,
  headers: { Location: [location] },
})

const portSuffix = (port: number, standard: number) => (port === standard ? '' : `:${port}`)

/** The server, routes and certificate policies that serve `apps` with their `domains`. */
export function desiredConfig(input: {
  apps: readonly ServedApp[]
  domains: ReadonlyMap<string, readonly ProxyDomain[]>
  settings: ProxySettings
  ports: FrontDoorPorts
  tlsLog: string | null
  /** Host ports deploys have chosen, held by Caddy until their app is routed there. */
  claims?: ReadonlyMap<number, string>
}): DesiredConfig {
  const { ports } = input
  const routes: DesiredRoute[] = []
  const acme: string[] = []
  const internal: string[] = []
  const portServers: DesiredConfig['portServers'] = []
  const byHost = new Map<string, ProxyDomain>()
  for (const list of input.domains.values()) for (const d of list) byHost.set(d.hostname, d)
  const schemeOf = (d: ProxyDomain | undefined) =>
    d && d.https !== 'off'
      ? { scheme: 'https', port: portSuffix(ports.https, 443) }
      : { scheme: 'http', port: portSuffix(ports.http, 80) }

  for (const app of [...input.apps].sort((a, b) => a.appId.localeCompare(b.appId))) {
    if (app.upstreams.length === 0) continue
    const proxy = reverseProxy(app)
    portServers.push({
      name: portServerName(app.hostPort),
      server: {
        listen: [`:${app.hostPort}`],
        automatic_https: { disable: true },
        routes: [{ '@id': `${ID_PREFIX}port-${app.appId}`, handle: [proxy], terminal: true }],
      },
    })
    const domains = input.domains.get(app.appId) ?? []
    for (const tls of [true, false]) {
      const sub: Record<string, unknown>[] = []
      const hosts: string[] = []
      const served: string[] = []
      for (const d of domains) {
        const secure = d.https !== 'off'
        if (tls && !secure) continue
        hosts.push(d.hostname)
        if (tls) (d.https === 'auto' ? acme : internal).push(d.hostname)
        if (d.redirect_to) {
          const target = schemeOf(byHost.get(d.redirect_to))
          sub.push({
            match: [{ host: [d.hostname] }],
            handle: [redirect(`${target.scheme}://${d.redirect_to}${target.port}{http.request.uri}`)],
            terminal: true,
          })
        } else if (!tls && secure && d.redirect_http) {
          sub.push({
            match: [{ host: [d.hostname] }],
            handle: [
              redirect(`https://{http.request.host}${portSuffix(ports.https, 443)}{http.request.uri}`),
            ],
            terminal: true,
          })
        } else served.push(d.hostname)
      }
      if (hosts.length === 0) continue
      if (served.length > 0) sub.push({ match: [{ host: served }], handle: [proxy], terminal: true })
      routes.push({
        id: `${ID_PREFIX}app-${app.appId}-${tls ? 'https' : 'http'}`,
        server: tls ? HTTPS_SERVER : HTTP_SERVER,
        wildcard: hosts.some((h) => h.startsWith('*.')),
        route: {
          '@id': `${ID_PREFIX}app-${app.appId}-${tls ? 'https' : 'http'}`,
          match: [{ host: hosts }],
          handle: [{ handler: 'subroute', routes: sub }],
          terminal: true,
        },
      })
    }
  }

  const routedPorts = new Set(portServers.map((p) => p.name))
  for (const [hostPort, appId] of [...(input.claims ?? [])].sort(([a], [b]) => a - b)) {
    if (routedPorts.has(portServerName(hostPort))) continue
    portServers.push({
      name: portServerName(hostPort),
      server: {
        listen: [`:${hostPort}`],
        automatic_https: { disable: true },
        routes: [
          {
            '@id': `${ID_PREFIX}port-${appId}-claim`,
            handle: [{ handler: 'static_response', status_code: 503, body: 'this app is being deployed\n' }],
            terminal: true,
          },
        ],
      },
    })
  }

  const policies: DesiredConfig['policies'] = []
  if (acme.length > 0) {
    // HTTP-01 only: a challenge on the HTTPS port would need Caddy to be reachable there first.
    const issuer: Record<string, unknown> = { module: 'acme', challenges: { 'tls-alpn': { disabled: true } } }
    if (input.settings.acme_directory) issuer.ca = input.settings.acme_directory
    if (input.settings.acme_email) issuer.email = input.settings.acme_email
    policies.push({
      id: POLICY_IDS.acme,
      policy: { '@id': POLICY_IDS.acme, subjects: acme.sort(), issuers: [issuer] },
    })
  }
  if (internal.length > 0) {
    policies.push({
      id: POLICY_IDS.internal,
      policy: { '@id': POLICY_IDS.internal, subjects: internal.sort(), issuers: [{ module: 'internal' }] },
    })
  }
  const domainServers =
    routes.length === 0
      ? []
      : [
          {
            name: HTTPS_SERVER,
            // Berth writes its own redirects, per domain.
            server: { listen: [`:${ports.https}`], routes: [], automatic_https: { disable_redirects: true } },
          },
          { name: HTTP_SERVER, server: { listen: [`:${ports.http}`], routes: [] } },
        ]
  const tlsLog =
    input.tlsLog && policies.length > 0
      ? {
          name: TLS_LOG,
          log: {
            writer: { output: 'file', filename: input.tlsLog, roll_size_mb: 1, roll_keep: 1 },
            encoder: { format: 'json' },
            level: 'INFO',
            include: ['tls.obtain', 'http.acme_client'],
          },
        }
      : null
  return { domainServers, routes, portServers, policies, internalCa: internal.length > 0, tlsLog }
}

/** JSON with its object keys sorted, to compare what Caddy holds with what Berth wants. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  )
}
