import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Reply } from './support/http.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Replayed webhooks, audit growth and names: a real API, a real agent process, the real Docker
// Engine and real git; GitHub's deliveries are signed by @octokit/webhooks.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
let work: string
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`

beforeAll(async () => {
  work = mkdtempSync(join(os.tmpdir(), 'berth-misc-'))
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
  if (work) rmSync(work, { recursive: true, force: true })
})

/** The documented error body, with the request id that the header carries. */
function expectError(res: Reply, status: number, error: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.body).toEqual(
    expect.objectContaining({
      error,
      code: expect.any(String),
      message: expect.any(String),
      status,
      request_id: res.headers.get('x-request-id'),
      timestamp: expect.any(String),
    }),
  )
}

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
        expectError(res, 400, 'validation_error')
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
    expectError(
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
