import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { appHost } from './support/apps.ts'
import { type Caddy, httpGet, httpsGet, startCaddy, startPebble } from './support/caddy.ts'
import type { Pebble } from './support/pebble.ts'
import { waitFor } from './support/process.ts'

// Domains and certificates through a real Caddy that a real agent drives, with Pebble as the
// ACME server validating HTTP-01 for real. Names resolve for Pebble through its DNS companion.

let pebble: Pebble
let caddy: Caddy
const host = appHost({ env: { BERTH_MAINTENANCE_MS: '1000' } }, async () => {
  pebble = await startPebble()
  caddy = await startCaddy({ name: 'domains', pebble })
  const tlsLog = join(mkdtempSync(join(tmpdir(), 'berth-caddy-log-')), 'tls.log')
  return { agentEnv: { ...caddy.agentEnv, BERTH_CADDY_CHECK_MS: '500', BERTH_CADDY_TLS_LOG: tlsLog } }
})
afterAll(async () => {
  await caddy?.stop()
  await pebble?.stop()
})

const domainsOf = async (appId: string) => {
  const res = await host.api.http.get(`/apps/${appId}/domains`, { token: host.admin })
  expect(res.status, res.text).toBe(200)
  return res.body.domains as any[]
}
const addDomain = async (appId: string, body: unknown) => {
  const res = await host.api.http.post(`/apps/${appId}/domains`, { token: host.admin, body })
  expect(res.status, res.text).toBe(201)
  return res.body.domain
}
const certificateOf = (appId: string, hostname: string, status: string, timeoutMs = 60_000) =>
  waitFor(
    `the certificate of ${hostname} to be ${status}`,
    async () => {
      const found = (await domainsOf(appId)).find((d) => d.hostname === hostname)
      return found?.certificate?.status === status ? found : undefined
    },
    timeoutMs,
    250,
  )
const berthIds = (config: any): string[] =>
  JSON.stringify(config)
    .match(/"@id":"berth-[^"]+"/g)
    ?.map((m) => m.slice(7, -1)) ?? []

beforeAll(async () => {
  const res = await host.api.http.patch(`/servers/${host.serverId}`, {
    token: host.admin,
    body: {
      acme_directory: pebble.directory,
      acme_email: 'ops@example.test',
      base_domain: 'apps.test',
      base_domain_https: 'internal',
    },
  })
  expect(res.status, res.text).toBe(200)
  await waitFor('the server to show its Caddy', async () => {
    const server = (await host.api.http.get(`/servers/${host.serverId}`, { token: host.admin })).body.server
    return server.proxy?.kind === 'caddy' ? server : undefined
  })
})

describe('an app with a domain through Caddy', () => {
  test('https auto: Pebble issues the certificate over HTTP-01, HTTPS serves the app, http:// redirects', async () => {
    const { app } = await host.deployedApp({ name: 'acme' })
    const hostname = `${app.name}.example.test`
    await pebble.addHost(hostname, '127.0.0.1')
    await addDomain(app.id, { hostname, https: 'auto', redirect_http: true })

    const domain = await certificateOf(app.id, hostname, 'active')
    expect(Date.parse(domain.certificate.expires_at)).toBeGreaterThan(Date.now() + 86_400_000)
    expect(domain.certificate.issuer).toMatch(/Pebble/i)
    const page = await httpsGet(`https://${hostname}/`, {
      resolveTo: caddy.httpsPort,
      ca: await pebble.issuedRootPem(),
    })
    expect(page.status).toBe(200)
    expect(page.body).toBe('version one\n')
    const plain = await httpGet(`http://${hostname}/path?q=1`, { resolveTo: caddy.httpPort })
    expect(plain.status).toBe(308)
    expect(plain.headers.location).toBe(`https://${hostname}:${caddy.httpsPort}/path?q=1`)
  })

  test('the automatic <app>.<base_domain> answers with https internal', async () => {
    const { app } = await host.deployedApp({ name: 'auto' })
    const hostname = `${app.name}.apps.test`
    const [automatic] = await domainsOf(app.id)
    expect(automatic).toMatchObject({ hostname, https: 'internal', automatic: true })
    await certificateOf(app.id, hostname, 'active')
    const page = await httpsGet(`https://${hostname}/`, {
      resolveTo: caddy.httpsPort,
      ca: await caddy.localRootPem(),
    })
    expect(page.status).toBe(200)
    expect(page.body).toBe('version one\n')
  })

  test('a domain whose DNS points elsewhere ends failed, with the reason Caddy gives', async () => {
    const { app } = await host.deployedApp({ name: 'elsewhere' })
    const hostname = `${app.name}.example.test`
    await pebble.addHost(hostname, '203.0.113.7')
    await addDomain(app.id, { hostname, https: 'auto' })
    const domain = await certificateOf(app.id, hostname, 'failed')
    expect(domain.certificate.reason).toMatch(/203\.0\.113\.7/)
    expect(domain.certificate.expires_at).toBeNull()
  })

  test('deleting an app removes its routes and nothing else from Caddy', async () => {
    const { app } = await host.deployedApp({ name: 'gone' })
    await addDomain(app.id, { hostname: `${app.name}.example.test`, https: 'off' })
    const hostPort = await host.hostPort(app.id)
    await waitFor('the app routed by domain', async () =>
      berthIds(await caddy.config()).includes(`berth-app-${app.id}-http`),
    )
    const mine = {
      '@id': 'hand-made',
      match: [{ host: ['mine.test'] }],
      handle: [{ handler: 'static_response', body: 'mine' }],
    }
    expect((await caddy.admin('POST', '/config/apps/http/servers/berth-http/routes', mine)).status).toBe(200)

    const res = await host.api.http.delete(`/apps/${app.id}`, { token: host.admin })
    expect(res.status, res.text).toBe(204)
    const config = await waitFor('the routes of the app to go', async () => {
      const now = await caddy.config()
      return berthIds(now).some((id) => id.includes(app.id)) ? undefined : now
    })
    expect(config.apps.http.servers[`berth-port-${hostPort}`]).toBeUndefined()
    const mineNow = await httpGet('http://mine.test/', { resolveTo: caddy.httpPort })
    expect(mineNow.body).toBe('mine')
    expect(berthIds(config).length).toBeGreaterThan(0)
  })
})
