import type { ProxyDomain, ProxySettings } from '@berth/shared'
import { describe, expect, it } from 'vitest'
import { canonical, type DesiredConfig, desiredConfig, type ServedApp } from './config.ts'

// What Berth asks of Caddy, built from the apps it serves: pure JSON, checked shape by shape.

const PORTS = { http: 80, https: 443 }
const NO_SETTINGS: ProxySettings = { acme_directory: null, acme_email: null }

function served(appId: string, extra: Partial<ServedApp> = {}): ServedApp {
  return {
    appId,
    hostPort: 20_001,
    upstreams: [{ dockerId: `c-${appId}`, host: '172.17.0.2', port: 8080 }],
    health: null,
    ...extra,
  }
}

function domain(hostname: string, extra: Partial<ProxyDomain> = {}): ProxyDomain {
  return { hostname, https: 'auto', redirect_http: true, redirect_to: null, ...extra }
}

function build(input: {
  apps?: ServedApp[]
  domains?: Record<string, ProxyDomain[]>
  settings?: ProxySettings
  ports?: { http: number; https: number }
  tlsLog?: string | null
}): DesiredConfig {
  return desiredConfig({
    apps: input.apps ?? [served('app_a')],
    domains: new Map(Object.entries(input.domains ?? {})),
    settings: input.settings ?? NO_SETTINGS,
    ports: input.ports ?? PORTS,
    tlsLog: input.tlsLog ?? null,
  })
}

interface Handler {
  handler: string
  status_code?: number
  headers?: { Location: string[] }
  upstreams?: unknown
  load_balancing?: { selection_policy?: unknown }
  health_checks?: unknown
}
interface Route {
  match: { host: string[] }[]
  handle: Handler[]
}

/** The routes of an app's route's subroute, in order. */
function subroutes(config: DesiredConfig, id: string): Route[] {
  const route = config.routes.find((r) => r.id === id)?.route as { handle: { routes: Route[] }[] } | undefined
  return route?.handle[0]?.routes ?? []
}

/** The reverse proxy of the first app's host port. */
function portProxy(config: DesiredConfig): Handler | undefined {
  return (config.portServers[0]?.server.routes as Route[] | undefined)?.[0]?.handle[0]
}

const location = (handler: Handler | undefined) => handler?.headers?.Location[0]

describe('desiredConfig', () => {
  it('serves an app with no domain on its host port only', () => {
    const config = build({})
    expect(config.routes).toEqual([])
    expect(config.domainServers).toEqual([])
    expect(config.policies).toEqual([])
    expect(config.portServers).toEqual([
      {
        name: 'berth-port-20001',
        server: {
          listen: [':20001'],
          automatic_https: { disable: true },
          routes: [
            {
              '@id': 'berth-port-app_a',
              handle: [
                expect.objectContaining({
                  handler: 'reverse_proxy',
                  upstreams: [{ dial: '172.17.0.2:8080' }],
                }),
              ],
              terminal: true,
            },
          ],
        },
      },
    ])
  })

  it('routes nothing for an app with no upstreams', () => {
    const config = build({
      apps: [served('app_a', { upstreams: [] })],
      domains: { app_a: [domain('a.example.com')] },
    })
    expect(config).toEqual({
      domainServers: [],
      routes: [],
      portServers: [],
      policies: [],
      internalCa: false,
      tlsLog: null,
    })
  })

  it('serves an https auto domain over HTTPS and redirects plain HTTP to it', () => {
    const config = build({ domains: { app_a: [domain('a.example.com')] } })
    expect(config.domainServers.map((s) => [s.name, s.server.listen])).toEqual([
      ['berth-https', [':443']],
      ['berth-http', [':80']],
    ])
    expect(config.routes.map((r) => [r.id, r.server, r.wildcard])).toEqual([
      ['berth-app-app_a-https', 'berth-https', false],
      ['berth-app-app_a-http', 'berth-http', false],
    ])
    const https = subroutes(config, 'berth-app-app_a-https')
    expect(https).toHaveLength(1)
    expect(https[0]?.handle[0]?.handler).toBe('reverse_proxy')
    const http = subroutes(config, 'berth-app-app_a-http')
    expect(http).toHaveLength(1)
    expect(http[0]?.handle[0]).toMatchObject({ handler: 'static_response', status_code: 308 })
    expect(location(http[0]?.handle[0])).toBe('https://{http.request.host}{http.request.uri}')
    expect(config.policies.map((p) => p.id)).toEqual(['berth-tls-acme'])
    expect(config.internalCa).toBe(false)
  })

  it('serves plain HTTP as well when redirect_http is off', () => {
    const config = build({ domains: { app_a: [domain('a.example.com', { redirect_http: false })] } })
    const http = subroutes(config, 'berth-app-app_a-http')
    expect(http[0]?.handle[0]?.handler).toBe('reverse_proxy')
    expect(subroutes(config, 'berth-app-app_a-https')[0]?.handle[0]?.handler).toBe('reverse_proxy')
  })

  it('serves an https off domain over plain HTTP only, with no certificate policy', () => {
    const config = build({ domains: { app_a: [domain('a.example.com', { https: 'off' })] } })
    expect(config.routes.map((r) => r.id)).toEqual(['berth-app-app_a-http'])
    expect(subroutes(config, 'berth-app-app_a-http')[0]?.handle[0]?.handler).toBe('reverse_proxy')
    expect(config.policies).toEqual([])
  })

  it('gives an internal domain a policy with Caddy local CA', () => {
    const config = build({ domains: { app_a: [domain('a.example.com', { https: 'internal' })] } })
    expect(config.policies).toEqual([
      {
        id: 'berth-tls-internal',
        policy: {
          '@id': 'berth-tls-internal',
          subjects: ['a.example.com'],
          issuers: [{ module: 'internal' }],
        },
      },
    ])
    expect(config.internalCa).toBe(true)
  })

  it('gives auto domains an ACME policy with the directory and email, TLS-ALPN off', () => {
    const config = build({
      apps: [served('app_a'), served('app_b', { hostPort: 20_002 })],
      domains: {
        app_a: [domain('z.example.com'), domain('b.example.com', { https: 'internal' })],
        app_b: [domain('a.example.com')],
      },
      settings: { acme_directory: 'https://acme.example.test/dir', acme_email: 'ops@example.com' },
    })
    expect(config.policies).toEqual([
      {
        id: 'berth-tls-acme',
        policy: {
          '@id': 'berth-tls-acme',
          subjects: ['a.example.com', 'z.example.com'],
          issuers: [
            {
              module: 'acme',
              ca: 'https://acme.example.test/dir',
              email: 'ops@example.com',
              challenges: { 'tls-alpn': { disabled: true } },
            },
          ],
        },
      },
      {
        id: 'berth-tls-internal',
        policy: {
          '@id': 'berth-tls-internal',
          subjects: ['b.example.com'],
          issuers: [{ module: 'internal' }],
        },
      },
    ])
  })

  it('leaves the ACME directory to Caddy (Let’s Encrypt) when none is set', () => {
    const config = build({ domains: { app_a: [domain('a.example.com')] } })
    expect(config.policies[0]?.policy.issuers).toEqual([
      { module: 'acme', challenges: { 'tls-alpn': { disabled: true } } },
    ])
  })

  it('redirects www to the apex, over the scheme the apex is served on', () => {
    const config = build({
      domains: {
        app_a: [domain('example.com'), domain('www.example.com', { redirect_to: 'example.com' })],
      },
    })
    const https = subroutes(config, 'berth-app-app_a-https')
    expect(https.map((s) => s.match[0]?.host)).toEqual([['www.example.com'], ['example.com']])
    expect(location(https[0]?.handle[0])).toBe('https://example.com{http.request.uri}')
    expect(https[1]?.handle[0]?.handler).toBe('reverse_proxy')
    const http = subroutes(config, 'berth-app-app_a-http')
    expect(location(http[1]?.handle[0])).toBe('https://example.com{http.request.uri}')

    const plain = build({
      domains: {
        app_a: [
          domain('example.com', { https: 'off' }),
          domain('www.example.com', { https: 'off', redirect_to: 'example.com' }),
        ],
      },
    })
    expect(location(subroutes(plain, 'berth-app-app_a-http')[0]?.handle[0])).toBe(
      'http://example.com{http.request.uri}',
    )
  })

  it('puts non-standard ports into redirects', () => {
    const config = build({
      ports: { http: 8080, https: 8443 },
      domains: {
        app_a: [domain('example.com'), domain('www.example.com', { redirect_to: 'example.com' })],
        app_b: [domain('plain.example.com', { https: 'off' })],
        app_c: [domain('c.example.com', { redirect_to: 'plain.example.com' })],
      },
      apps: [served('app_a'), served('app_b', { hostPort: 20_002 }), served('app_c', { hostPort: 20_003 })],
    })
    expect(config.domainServers.map((s) => s.server.listen)).toEqual([[':8443'], [':8080']])
    const http = subroutes(config, 'berth-app-app_a-http')
    expect(location(http[0]?.handle[0])).toBe('https://{http.request.host}:8443{http.request.uri}')
    expect(location(http[1]?.handle[0])).toBe('https://example.com:8443{http.request.uri}')
    expect(location(subroutes(config, 'berth-app-app_c-https')[0]?.handle[0])).toBe(
      'http://plain.example.com:8080{http.request.uri}',
    )
  })

  it('serves several domains of one app from one route per server', () => {
    const config = build({
      domains: {
        app_a: [domain('a.example.com'), domain('b.example.com'), domain('c.example.com', { https: 'off' })],
      },
    })
    const routes = Object.fromEntries(config.routes.map((r) => [r.id, r.route as unknown as Route]))
    expect(routes['berth-app-app_a-https']?.match).toEqual([{ host: ['a.example.com', 'b.example.com'] }])
    expect(routes['berth-app-app_a-http']?.match).toEqual([
      { host: ['a.example.com', 'b.example.com', 'c.example.com'] },
    ])
    const http = subroutes(config, 'berth-app-app_a-http')
    expect(http.map((s) => [s.match[0]?.host, s.handle[0]?.handler])).toEqual([
      [['a.example.com'], 'static_response'],
      [['b.example.com'], 'static_response'],
      [['c.example.com'], 'reverse_proxy'],
    ])
  })

  it('marks a route with a wildcard, so exact hostnames go before it', () => {
    const config = build({
      apps: [served('app_a'), served('app_b', { hostPort: 20_002 })],
      domains: {
        app_a: [domain('*.apps.example.com', { https: 'internal' })],
        app_b: [domain('b.apps.example.com', { https: 'internal' })],
      },
    })
    expect(config.routes.map((r) => [r.id, r.wildcard])).toEqual([
      ['berth-app-app_a-https', true],
      ['berth-app-app_a-http', true],
      ['berth-app-app_b-https', false],
      ['berth-app-app_b-http', false],
    ])
    expect(config.policies[0]?.policy.subjects).toEqual(['*.apps.example.com', 'b.apps.example.com'])
  })

  it('balances several upstreams round robin, skipping one that failed', () => {
    const config = build({
      apps: [
        served('app_a', {
          upstreams: [
            { dockerId: 'c1', host: '172.17.0.2', port: 8080 },
            { dockerId: 'c2', host: '172.17.0.3', port: 8080 },
          ],
        }),
      ],
    })
    const proxy = portProxy(config)
    expect(proxy?.upstreams).toEqual([{ dial: '172.17.0.2:8080' }, { dial: '172.17.0.3:8080' }])
    expect(proxy?.load_balancing?.selection_policy).toEqual({ policy: 'round_robin' })
    expect(proxy?.health_checks).toEqual({ passive: { fail_duration: '10s', max_fails: 1 } })
  })

  it('never marks a lone upstream down for a failed request', () => {
    const proxy = portProxy(build({}))
    expect(proxy?.health_checks).toBeUndefined()
  })

  it('checks a health path actively', () => {
    const config = build({
      apps: [served('app_a', { health: { path: '/healthz', intervalS: 2, timeoutS: 1 } })],
    })
    const proxy = portProxy(config)
    expect(proxy?.health_checks).toEqual({ active: { uri: '/healthz', interval: '2s', timeout: '1s' } })
  })

  it('logs certificate events to the TLS log only when a domain has HTTPS', () => {
    const withTls = build({
      domains: { app_a: [domain('a.example.com')] },
      tlsLog: '/var/log/caddy/berth-tls.log',
    })
    expect(withTls.tlsLog).toMatchObject({
      name: 'berth-tls',
      log: {
        writer: { output: 'file', filename: '/var/log/caddy/berth-tls.log' },
        include: ['tls.obtain', 'http.acme_client'],
      },
    })
    const plain = build({
      domains: { app_a: [domain('a.example.com', { https: 'off' })] },
      tlsLog: '/var/log/caddy/berth-tls.log',
    })
    expect(plain.tlsLog).toBeNull()
  })

  it('comes out the same whatever order the apps are given in', () => {
    const a = served('app_a')
    const b = served('app_b', { hostPort: 20_002 })
    expect(build({ apps: [b, a] })).toEqual(build({ apps: [a, b] }))
  })
})

describe('canonical', () => {
  it('ignores the order of object keys, at every depth', () => {
    expect(canonical({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonical({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    )
  })

  it('keeps the order of arrays and tells values apart', () => {
    expect(canonical([1, 2])).not.toBe(canonical([2, 1]))
    expect(canonical({ a: 1 })).not.toBe(canonical({ a: '1' }))
  })
})
