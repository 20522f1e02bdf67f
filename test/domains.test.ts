import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { appHost } from './support/apps.ts'
import { TEST_IMAGE } from './support/docker.ts'
import { createUser, expectErrorBody } from './support/flows.ts'

// App domains end to end: a real API and a real agent process. The agent drives no Caddy here,
// so the flows through a real Caddy are elsewhere.

const host = appHost()
const image = { type: 'image', image: TEST_IMAGE }
const CADDY = { kind: 'caddy', version: 'v2.6.2' }

const domainsOf = async (appId: string, token = host.admin) => {
  const res = await host.api.http.get(`/apps/${appId}/domains`, { token })
  expect(res.status, res.text).toBe(200)
  return res.body.domains as any[]
}
const addDomain = (appId: string, body: unknown, token = host.admin) =>
  host.api.http.post(`/apps/${appId}/domains`, { token, body })
const removeDomain = (appId: string, domainId: string, token = host.admin) =>
  host.api.http.delete(`/apps/${appId}/domains/${domainId}`, { token })
const patchServer = (body: unknown) =>
  host.api.http.patch(`/servers/${host.serverId}`, { token: host.admin, body })

describe('a server whose agent has no Caddy', () => {
  test('shows proxy null, and a domain for its apps is a 422 that says what to install', async () => {
    const server = await host.api.http.get(`/servers/${host.serverId}`, { token: host.admin })
    expect(server.body.server).toMatchObject({ status: 'online', proxy: null, base_domain_https: 'auto' })
    const app = await host.createApp({ name: host.appName('bare'), source: image })
    const res = await addDomain(app.id, { hostname: 'bare.example.test' })
    expectErrorBody(res, 422, 'state_error')
    expect(res.body.code).toBe('proxy_missing')
    expect(res.body.message).toBe(
      'the server app-host has no Caddy the agent can reach; install Caddy beside the agent (Debian: apt install caddy, then systemctl enable --now caddy-api) and start the agent with --caddy-admin; see docs/agent.md',
    )
    expect(await domainsOf(app.id)).toEqual([])
    expect(await host.api.sql('select * from domains')).toEqual([])
  })
})

// The agent that drives a real Caddy reports it in its hello; this one does not, so the test
// writes that report into the API's database itself.
describe('with a server whose agent reported a Caddy (written into the database)', () => {
  const base = () => `${host.appName('base')}.example.test`
  beforeAll(async () => {
    await host.api.sql('update servers set proxy = ?, ipv4 = ? where id = ?', [
      JSON.stringify(CADDY),
      '203.0.113.7',
      host.serverId,
    ])
    const res = await patchServer({ base_domain: base(), base_domain_https: 'internal' })
    expect(res.status, res.text).toBe(200)
  })
  afterAll(() => host.api.sql('update servers set proxy = null where id = ?', [host.serverId]))

  test('GET /servers/:id shows the proxy and the domain settings', async () => {
    const res = await host.api.http.get(`/servers/${host.serverId}`, { token: host.admin })
    expect(res.body.server).toMatchObject({
      proxy: CADDY,
      ipv4: '203.0.113.7',
      base_domain: base(),
      base_domain_https: 'internal',
      acme_directory: null,
      acme_email: null,
    })
    const acme = await patchServer({
      acme_directory: 'https://acme-staging-v02.api.letsencrypt.org/directory',
      acme_email: 'ops@example.test',
    })
    expect(acme.body.server).toMatchObject({ acme_email: 'ops@example.test', base_domain: base() })
    for (const body of [{ base_domain_https: 'sometimes' }, { base_domain: 'no spaces.example' }]) {
      expectErrorBody(await patchServer(body), 400, 'validation_error')
    }
  })

  test('a domain is added as punycode, listed after the automatic one, and removed', async () => {
    const app = await host.createApp({ name: host.appName('shop'), source: image })
    const added = await addDomain(app.id, { hostname: 'Shop.Bücher.example' })
    expect(added.status, added.text).toBe(201)
    const domain = {
      id: expect.stringMatching(/^dom_/),
      app_id: app.id,
      hostname: 'shop.xn--bcher-kva.example',
      https: 'auto',
      redirect_http: true,
      redirect_to: null,
      automatic: false,
      certificate: { status: 'pending', reason: null, expires_at: null, issuer: null },
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    }
    expect(added.body.domain).toEqual(domain)
    const automatic = {
      id: 'automatic',
      app_id: app.id,
      hostname: `${app.name}.${base()}`,
      https: 'internal',
      redirect_http: true,
      redirect_to: null,
      automatic: true,
      certificate: { status: 'pending', reason: null, expires_at: null, issuer: null },
      created_at: null,
    }
    expect(await domainsOf(app.id)).toEqual([automatic, domain])

    const plain = await addDomain(app.id, { hostname: 'plain.example.test', https: 'off' })
    expect(plain.body.domain).toMatchObject({ redirect_http: false, certificate: null })

    expect((await removeDomain(app.id, added.body.domain.id)).status).toBe(204)
    expect((await domainsOf(app.id)).map((d) => d.hostname)).toEqual([
      automatic.hostname,
      'plain.example.test',
    ])
    const gone = await removeDomain(app.id, added.body.domain.id)
    expectErrorBody(gone, 404, 'not_found')
  })

  test('the automatic domain cannot be removed', async () => {
    const app = await host.createApp({ name: host.appName('auto'), source: image })
    const res = await removeDomain(app.id, 'automatic')
    expectErrorBody(res, 422, 'state_error')
    expect(res.body.code).toBe('automatic_domain')
    expect((await domainsOf(app.id)).map((d) => d.automatic)).toEqual([true])
  })

  test('without a base domain the automatic domain is the sslip.io name of the server address', async () => {
    const app = await host.createApp({ name: host.appName('sslip'), source: image })
    expect((await patchServer({ base_domain: null })).status).toBe(200)
    try {
      expect((await domainsOf(app.id))[0]).toMatchObject({
        hostname: `${app.name}.203-0-113-7.sslip.io`,
        automatic: true,
      })
    } finally {
      await patchServer({ base_domain: base() })
    }
  })

  test('bad hostnames and a wildcard with https auto are a 400 and store nothing', async () => {
    const app = await host.createApp({ name: host.appName('bad'), source: image })
    for (const body of [
      { hostname: 'not a hostname' },
      { hostname: 'localhost' },
      { hostname: '203.0.113.9' },
      { hostname: `${'a'.repeat(64)}.example.test` },
      { hostname: 'trailing.example.test.' },
      { hostname: '*.wild.example.test' },
      { hostname: 'ok.example.test', https: 'sometimes' },
    ]) {
      const res = await addDomain(app.id, body)
      expectErrorBody(res, 400, 'validation_error')
    }
    expect(await host.api.sql('select * from domains where app_id = ?', [app.id])).toEqual([])
    const wildcard = await addDomain(app.id, { hostname: '*.wild.example.test', https: 'internal' })
    expect(wildcard.status, wildcard.text).toBe(201)
    expect(wildcard.body.domain.hostname).toBe('*.wild.example.test')
  })

  test('a hostname any app has is a 409, its automatic domain included', async () => {
    const first = await host.createApp({ name: host.appName('first'), source: image })
    const second = await host.createApp({ name: host.appName('second'), source: image })
    expect((await addDomain(first.id, { hostname: 'taken.example.test' })).status).toBe(201)
    for (const hostname of ['taken.example.test', 'TAKEN.example.test', `${first.name}.${base()}`]) {
      const res = await addDomain(second.id, { hostname })
      expectErrorBody(res, 409, 'conflict')
      expect(res.body.code).toBe('hostname_taken')
    }
    expect(await domainsOf(second.id)).toHaveLength(1)
  })

  test('an automatic domain yields to the same hostname added by hand before its app existed', async () => {
    const holder = await host.createApp({ name: host.appName('holder'), source: image })
    const hostname = `${host.appName('late')}.${base()}`
    expect((await addDomain(holder.id, { hostname })).status).toBe(201)
    const late = await host.createApp({ name: host.appName('late'), source: image })
    expect(await domainsOf(late.id)).toEqual([])
    expect((await addDomain(late.id, { hostname })).body.code).toBe('hostname_taken')
    expect((await domainsOf(holder.id)).map((d) => d.hostname)).toContain(hostname)
  })

  test('redirect_to names a domain of the same app, which stays while it is redirected to', async () => {
    const app = await host.createApp({ name: host.appName('apex'), source: image })
    const other = await host.createApp({ name: host.appName('other'), source: image })
    const apex = await addDomain(app.id, { hostname: 'apex.example.test' })
    expect((await addDomain(other.id, { hostname: 'elsewhere.example.test' })).status).toBe(201)
    const astray = await addDomain(app.id, {
      hostname: 'www.apex.example.test',
      redirect_to: 'elsewhere.example.test',
    })
    expectErrorBody(astray, 422, 'state_error')
    expect(astray.body.code).toBe('unknown_redirect_target')
    const www = await addDomain(app.id, {
      hostname: 'www.apex.example.test',
      redirect_to: 'apex.example.test',
    })
    expect(www.status, www.text).toBe(201)
    expect(www.body.domain.redirect_to).toBe('apex.example.test')
    const toAutomatic = await addDomain(app.id, {
      hostname: 'old.example.test',
      redirect_to: `${app.name}.${base()}`,
    })
    expect(toAutomatic.status, toAutomatic.text).toBe(201)

    const held = await removeDomain(app.id, apex.body.domain.id)
    expectErrorBody(held, 422, 'state_error')
    expect(held.body.code).toBe('redirect_target_in_use')
    expect((await removeDomain(app.id, www.body.domain.id)).status).toBe(204)
    expect((await removeDomain(app.id, apex.body.domain.id)).status).toBe(204)
  })

  test('a viewer reads domains, a member adds and removes them', async () => {
    const app = await host.createApp({ name: host.appName('roles'), source: image })
    const viewer = await createUser(host.api.http, host.admin, 'viewer')
    const member = await createUser(host.api.http, host.admin, 'member')
    expect(await domainsOf(app.id, viewer.token)).toHaveLength(1)
    const refused = await addDomain(app.id, { hostname: 'roles.example.test' }, viewer.token)
    expectErrorBody(refused, 403, 'forbidden')
    const added = await addDomain(app.id, { hostname: 'roles.example.test' }, member.token)
    expect(added.status, added.text).toBe(201)
    expectErrorBody(await removeDomain(app.id, added.body.domain.id, viewer.token), 403, 'forbidden')
    expect((await removeDomain(app.id, added.body.domain.id, member.token)).status).toBe(204)
    expectErrorBody(
      await addDomain('app_missing', { hostname: 'x.example.test' }, member.token),
      404,
      'not_found',
    )
  })

  test('a deleted app frees its hostnames', async () => {
    const gone = await host.createApp({ name: host.appName('gone'), source: image })
    const next = await host.createApp({ name: host.appName('next'), source: image })
    expect((await addDomain(gone.id, { hostname: 'reused.example.test' })).status).toBe(201)
    expect((await host.api.http.delete(`/apps/${gone.id}`, { token: host.admin })).status).toBe(204)
    const taken = await addDomain(next.id, { hostname: 'reused.example.test' })
    expect(taken.status, taken.text).toBe(201)
  })
})
