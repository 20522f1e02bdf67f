import { createHmac } from 'node:crypto'
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { dockerfile, repository } from './support/apps.ts'
import { type Caddy, httpsGet, startCaddy } from './support/caddy.ts'
import { ADMIN, registerAdmin, waitForServerStatus } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'
import { type WebOptions, webRequest } from './support/web.ts'

// Berth itself behind the Caddy of its host, as docs/domains.md sets it up: the API at
// https://berth-api.test through Caddy (a route of the host's own, beside Berth's), agents and
// webhooks reaching it over HTTPS, the client's address taken from the proxy's X-Forwarded-For.
// Node only: on Workers the client's address is CF-Connecting-IP, not X-Forwarded-For.

const API_HOST = 'berth-api.test'
let caddy: Caddy
let api: ApiTarget
let admin = ''
let agent: Child | undefined
let publicUrl = ''
let root = ''
const work = mkdtempSync(join(os.tmpdir(), 'berth-behind-'))

/** The name resolves for this machine's programs (the agent's too): an /etc/hosts line. */
function resolveLocally(name: string): void {
  const hosts = readFileSync('/etc/hosts', 'utf8')
  if (!hosts.split('\n').some((line) => line.split(/\s+/).slice(1).includes(name))) {
    appendFileSync('/etc/hosts', `\n127.0.0.1 ${name}\n`)
  }
}

beforeAll(async () => {
  resolveLocally(API_HOST)
  caddy = await startCaddy({ name: 'behind' })
  publicUrl = `https://${API_HOST}:${caddy.httpsPort}`
  api = await startApi({ env: { BERTH_PUBLIC_URL: publicUrl, BERTH_TRUST_PROXY: '1' } })
  // The host's own site for the API, as a Caddyfile `berth-api.test { tls internal; reverse_proxy … }` makes it.
  const apiPort = new URL(api.url).port
  const set = async (method: string, path: string, body: unknown) =>
    expect((await caddy.admin(method, path, body)).status, path).toBe(200)
  await set('POST', '/config/apps/tls', {
    automation: { policies: [{ subjects: [API_HOST], issuers: [{ module: 'internal' }] }] },
  })
  await set('POST', '/config/apps/http', {
    http_port: caddy.httpPort,
    https_port: caddy.httpsPort,
    servers: {
      front: {
        listen: [`:${caddy.httpsPort}`],
        routes: [
          {
            '@id': 'my-berth',
            match: [{ host: [API_HOST] }],
            handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${apiPort}` }] }],
            terminal: true,
          },
        ],
      },
    },
  })
  root = await caddy.localRootPem()
  writeFileSync(join(work, 'root.pem'), root)
  admin = await registerAdmin(api.http)
})

afterAll(async () => {
  await agent?.stop()
  await api?.stop()
  await caddy?.stop()
})

const viaCaddy = (path: string, init: Omit<WebOptions, 'resolveTo' | 'ca'> = {}) =>
  webRequest(`${publicUrl}${path}`, { resolveTo: caddy.httpsPort, ca: root, ...init })

describe('the API behind Caddy', () => {
  test('answers over HTTPS and takes the client address from the proxy, not from the client', async () => {
    const health = await viaCaddy('/api/v1/health')
    expect(health.status).toBe(200)
    // From another loopback address than Caddy's own: the API must see this one, and not the
    // address the client wrote into X-Forwarded-For itself.
    const bad = await viaCaddy('/api/v1/auth/login', {
      localAddress: '127.0.0.7',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.9' },
      body: JSON.stringify({ email: ADMIN.email, password: 'not the password' }),
    })
    expect(bad.status).toBe(401)
    const audit = (await api.http.get('/audit?limit=50', { token: admin })).body.entries as any[]
    const failed = audit.find((e) => JSON.stringify(e).includes('login'))
    expect(failed?.ip).toBe('127.0.0.7')
  })

  test('an agent enrolls and stays linked over HTTPS through Caddy, and deploys an app with a domain there', async () => {
    const created = await api.http.post('/servers', { token: admin, body: { name: 'behind' } })
    expect(created.status, created.text).toBe(201)
    expect(created.body.enrollment.commands.node).toContain(`--api ${publicUrl}`)
    const serverId = created.body.server.id
    agent = startAgentProcess({
      api: publicUrl,
      token: created.body.enrollment.token,
      stateDir: mkdtempSync(join(work, 'agent-')),
      caddy,
      env: { NODE_EXTRA_CA_CERTS: join(work, 'root.pem'), BERTH_CADDY_CHECK_MS: '1000' },
    })
    await waitForServerStatus(api.http, admin, serverId, 'online')

    const repo = repository(work, 'behind')
    repo.commit({ Dockerfile: dockerfile(), 'index.html': 'behind caddy\n' }, 'first')
    const app = await api.http.post('/apps', {
      token: admin,
      body: {
        name: `behind-${Date.now().toString(36)}`,
        server_id: serverId,
        port: 3000,
        source: { type: 'git', url: repo.url },
      },
    })
    expect(app.status, app.text).toBe(201)
    const hostname = `${app.body.app.name}.apps.test`
    const domain = await api.http.post(`/apps/${app.body.app.id}/domains`, {
      token: admin,
      body: { hostname, https: 'internal' },
    })
    expect(domain.status, domain.text).toBe(201)
    const started = await api.http.post(`/apps/${app.body.app.id}/deploy`, { token: admin })
    expect(started.status, started.text).toBe(202)
    const done = await waitFor(
      'the deployment to finish',
      async () => {
        const d = (await api.http.get(`/deployments/${started.body.deployment.id}`, { token: admin })).body
          .deployment
        return ['running', 'failed'].includes(d.state) ? d : undefined
      },
      120_000,
    )
    expect(done.state, done.reason).toBe('running')

    const page = await waitFor('the app by its domain', async () => {
      const reply = await httpsGet(`https://${hostname}/`, { resolveTo: caddy.httpsPort, ca: root }).catch(
        () => null,
      )
      return reply?.status === 200 ? reply : undefined
    })
    expect(page.body).toBe('behind caddy\n')
    // Berth's routes went into the host's own server on that port, and its own route is still there.
    const config = await caddy.config()
    expect(Object.keys(config.apps.http.servers)).not.toContain('berth-https')
    expect((await viaCaddy('/api/v1/health')).status).toBe(200)

    const hook = await api.http.post(`/apps/${app.body.app.id}/webhooks`, {
      token: admin,
      body: { provider: 'github' },
    })
    expect(hook.status, hook.text).toBe(201)
    expect(hook.body.webhook.url).toBe(`${publicUrl}/api/v1/webhooks/github/${app.body.app.id}`)
    const ping = JSON.stringify({ zen: 'hi' })
    const signature = `sha256=${createHmac('sha256', hook.body.webhook.secret).update(ping).digest('hex')}`
    const pong = await viaCaddy(`/api/v1/webhooks/github/${app.body.app.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-delivery': 'behind-ping',
        'x-hub-signature-256': signature,
      },
      body: ping,
    })
    expect(pong.status, pong.body).toBe(200)
    await api.http.delete(`/apps/${app.body.app.id}`, { token: admin })
  })
})
