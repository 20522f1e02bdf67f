import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { expectErrorBody, registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Audit growth and names: a real API, a real agent process and the real Docker Engine.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`

beforeAll(async () => {
  api = await startApi({ env: { BERTH_MAINTENANCE_MS: '500', BERTH_AUDIT_RETENTION_DAYS: '30' } })
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'misc-host'))
})

afterAll(async () => {
  const apps = (await api?.http.get('/apps?limit=200', { token: admin }))?.body.apps ?? []
  for (const app of apps) await api.http.delete(`/apps/${app.id}?volumes=true`, { token: admin })
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
})

describe('names', () => {
  const UNSAFE = [
    '\u0000',
    '\u0007',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u200e',
    '\u200f',
    '\u202e',
    '\u2066',
    '\u2069',
  ]

  test('control and bidi-override characters in any name are a 400 validation_error, and nothing is made', async () => {
    const counts = async () =>
      (
        await api.sql<Record<string, number>>(`select (select count(*) from users) as users,
          (select count(*) from api_tokens) as tokens, (select count(*) from servers) as servers,
          (select count(*) from apps) as apps, (select count(*) from webhooks) as webhooks`)
      )[0]
    const before = await counts()
    const containers = `/servers/${serverId}/containers`
    for (const ch of UNSAFE) {
      const cases: [string, string, unknown, string][] = [
        [
          'POST',
          '/users',
          { email: `u${run}@example.com`, password: 'long enough pw', name: `Eve${ch}` },
          'name',
        ],
        ['POST', '/tokens', { name: `ci${ch}deploy` }, 'name'],
        ['POST', '/servers', { name: 'spare', description: `rack ${ch}4` }, 'description'],
        ['PATCH', `/servers/${serverId}`, { description: `x${ch}` }, 'description'],
        ['POST', containers, { image: TEST_IMAGE, start: false, labels: { [`team${ch}`]: 'a' } }, 'labels'],
        ['POST', containers, { image: TEST_IMAGE, start: false, env: { [`A${ch}B`]: '1' } }, 'env'],
        ['POST', containers, { image: `${TEST_IMAGE}${ch}` }, 'image'],
        ['POST', containers, { image: TEST_IMAGE, start: false, network: `bridge${ch}` }, 'network'],
        [
          'POST',
          containers,
          { image: TEST_IMAGE, start: false, volumes: [{ source: `data${ch}`, target: '/data' }] },
          'volumes.0.source',
        ],
        [
          'POST',
          `/servers/${serverId}/volumes`,
          { name: name('vol'), labels: { [`k${ch}`]: 'v' } },
          'labels',
        ],
        [
          'POST',
          `/servers/${serverId}/networks`,
          { name: name('net'), labels: { [`k${ch}`]: 'v' } },
          'labels',
        ],
        ['POST', `/servers/${serverId}/images/pull`, { image: `busybox${ch}` }, 'image'],
        ['POST', `${containers}/${name('none')}/git/checkout`, { branch: `main${ch}` }, 'branch'],
        ['POST', `${containers}/${name('none')}/git/pull`, { remote: `origin${ch}` }, 'remote'],
        // Fields with their own pattern refuse them too.
        ['POST', '/servers', { name: `spare${ch}` }, 'name'],
        ['POST', containers, { image: TEST_IMAGE, name: `web${ch}` }, 'name'],
        ['POST', containers, { image: TEST_IMAGE, tags: [`blue${ch}`] }, 'tags.0'],
        ['POST', `/servers/${serverId}/volumes`, { name: `vol${ch}` }, 'name'],
        [
          'POST',
          '/apps',
          { name: `web${ch}`, server_id: serverId, source: { type: 'image', image: TEST_IMAGE } },
          'name',
        ],
      ]
      for (const [method, path, body, field] of cases) {
        const res = await api.http.request(method, path, { token: admin, body })
        expectErrorBody(res, 400, 'validation_error')
        const paths = (res.body.details ?? []).map((d: { path: string }) => d.path)
        expect(
          paths.some((p: string) => p === field || p.startsWith(`${field}.`)),
          `${method} ${path} ${JSON.stringify(ch)}: ${res.text}`,
        ).toBe(true)
      }
    }
    expect(await counts()).toEqual(before)
    // A user's own name can be changed, and refuses them the same way.
    const me = (await api.http.get('/auth/me', { token: admin })).body.user
    expectErrorBody(
      await api.http.patch(`/users/${me.id}`, { token: admin, body: { name: 'Ad\u202emin' } }),
      400,
      'validation_error',
    )
  })

  test('a name= filter takes _ and % as themselves', async () => {
    const create = async (n: string) => {
      const res = await api.http.post(`/servers/${serverId}/containers`, {
        token: admin,
        body: { image: TEST_IMAGE, name: n, start: false, cmd: ['true'] },
      })
      expect(res.status, res.text).toBe(201)
    }
    await create(name('a_b'))
    await create(name('axb'))
    const list = async (filter: string) =>
      (
        await api.http.get(`/servers/${serverId}/containers?name=${encodeURIComponent(filter)}`, {
          token: admin,
        })
      ).body.containers.map((c: { name: string }) => c.name)
    expect(await list(name('a_'))).toEqual([name('a_b')])
    expect(await list(name('a%'))).toEqual([])
    expect(await list(name('a'))).toEqual([name('a_b'), name('axb')].sort())
  })
})

describe('audit log', () => {
  /** Audit entries newest first, as an admin reads them. */
  const entries = async () => (await api.http.get('/audit?limit=200', { token: admin })).body.entries as any[]

  test('requests to no route are answered 404 and not stored', async () => {
    const junk = `nope-${run}-${'x'.repeat(2000)}`
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expectErrorBody(await api.http.request(method, `/${junk}`), 404, 'not_found')
    }
    // A wrong method on a known path is no route either.
    expectErrorBody(await api.http.request('PUT', `/auth/login?${junk}`), 404, 'not_found')
    // A request to a route is stored: once it is, anything stored before it is too.
    const marker = await api.http.post('/auth/login', {
      body: { email: `marker-${run}@example.com`, password: 'x' },
    })
    const requestId = marker.headers.get('x-request-id')
    const seen = await waitFor('the marker in the audit log', async () => {
      const all = await entries()
      return all.some((e) => e.request_id === requestId) ? all : undefined
    })
    expect(JSON.stringify(seen)).not.toContain(`nope-${run}`)
    const [stored] = await api.sql<{ n: number }>(
      "select count(*) as n from audit_log where action like ? or coalesce(target, '') like ?",
      [`%nope-${run}%`, `%nope-${run}%`],
    )
    expect(stored!.n).toBe(0)
  })

  test('a stored target is cut to 128 characters', async () => {
    const long = `app_${run}${'y'.repeat(3000)}`
    const res = await fetch(`${api.url}/api/v1/webhooks/github/${long}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': 'd' },
      body: '{}',
    })
    expect(res.status).toBe(401)
    const requestId = res.headers.get('x-request-id')
    const entry = await waitFor('the refused delivery in the audit log', async () =>
      (await entries()).find((e) => e.request_id === requestId),
    )
    expect(entry.action).toBe('POST /api/v1/webhooks/:provider{github|gitlab|gitea}/:appId')
    expect(entry.target).toBe(long.slice(0, 128))
  })

  test('entries and webhook deliveries older than BERTH_AUDIT_RETENTION_DAYS are deleted by maintenance', async () => {
    const app = await api.http.post('/apps', {
      token: admin,
      body: {
        name: name('kept'),
        server_id: serverId,
        source: { type: 'image', image: TEST_IMAGE },
        port: 3000,
      },
    })
    expect(app.status, app.text).toBe(201)
    const hook = await api.http.post(`/apps/${app.body.app.id}/webhooks`, {
      token: admin,
      body: { provider: 'github' },
    })
    expect(hook.status, hook.text).toBe(201)
    const day = 86_400_000
    const now = Date.now()
    const auditRow = (id: string, at: number) =>
      api.sql(
        `insert into audit_log (id, at, actor_type, actor_id, action, target, status, duration_ms, request_id, ip)
         values (?, ?, 'anonymous', null, 'POST /api/v1/auth/login', null, 401, 1, ?, null)`,
        [id, at, `req_${id}`],
      )
    const deliveryRow = (id: string, at: number) =>
      api.sql(
        `insert into webhook_deliveries (id, webhook_id, delivery_id, event, status, reason, deployment_id, received_at)
         values (?, ?, ?, 'push', 'skipped', 'old', null, ?)`,
        [id, hook.body.webhook.id, id, at],
      )
    await auditRow(`aud_old${run}`, now - 31 * day)
    await auditRow(`aud_new${run}`, now - 29 * day)
    await deliveryRow(`dlv_old${run}`, now - 31 * day)
    await deliveryRow(`dlv_new${run}`, now - 29 * day)
    const deliveries = async () =>
      (
        await api.http.get(`/apps/${app.body.app.id}/webhooks/${hook.body.webhook.id}/deliveries`, {
          token: admin,
        })
      ).body.deliveries.map((d: { id: string }) => d.id)
    await waitFor('old entries to be pruned', async () => {
      const ids = (await entries()).map((e) => e.id)
      return !ids.includes(`aud_old${run}`) && !(await deliveries()).includes(`dlv_old${run}`)
    })
    expect((await entries()).map((e) => e.id)).toContain(`aud_new${run}`)
    expect(await deliveries()).toEqual([`dlv_new${run}`])
  })
})
