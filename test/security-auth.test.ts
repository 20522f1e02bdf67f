import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TEST_IMAGE } from './support/docker.ts'
import {
  ADMIN,
  type ContainerHost,
  createUser,
  login,
  registerAdmin,
  startContainerHost,
} from './support/flows.ts'
import type { Client, Reply } from './support/http.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Credentials end to end: what a token may grant and see, when a session ends, and the login
// limit under concurrency. A real API on Node or under workerd, a real agent and Docker for reveals.

let api: ApiTarget
let admin: string
const run = Math.random().toString(36).slice(2, 7)

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})
afterAll(() => api?.stop())

/** The documented error body, with its status, error kind and code. */
function expectError(res: { status: number; body: any }, status: number, error: string, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body).toMatchObject({ error, code, status, request_id: expect.stringMatching(/^req_/) })
  expect(res.body.timestamp).toEqual(expect.any(String))
  expect(res.body.message).toEqual(expect.any(String))
}

/**
 * Sends `n` requests at once. Under this load wrangler dev's own proxy now and then drops one
 * before the worker answers (503 "Your worker restarted mid-request"); such a one is sent again.
 */
async function concurrently(n: number, send: () => Promise<Reply>): Promise<Reply[]> {
  const answers = await Promise.all(Array.from({ length: n }, send))
  for (const [i, answer] of answers.entries()) {
    if (answer.status === 503 && answer.text.startsWith('Your worker restarted mid-request'))
      answers[i] = await send()
  }
  return answers
}

async function newToken(http: Client, bearer: string, body: Record<string, unknown>): Promise<string> {
  const res = await http.post('/tokens', { token: bearer, body: { name: 'test', ...body } })
  expect(res.status, res.text).toBe(201)
  return res.body.token.value
}

describe('what a token may grant', () => {
  test("an admin's write token cannot mint an admin token", async () => {
    const writer = await newToken(api.http, admin, { scopes: ['write'] })
    const res = await api.http.post('/tokens', { token: writer, body: { name: 'up', scopes: ['admin'] } })
    expectError(res, 403, 'forbidden', 'scope_exceeds_token')
    expect(res.body.details).toEqual({ scopes: ['admin'] })
    expect(res.text).not.toContain('berth_pat_')
    // At its own level it still may.
    expect(
      (await api.http.post('/tokens', { token: writer, body: { name: 'same', scopes: ['read', 'write'] } }))
        .status,
    ).toBe(201)
  })

  test("a member's token cannot mint a token above the member role", async () => {
    const member = await createUser(api.http, admin, 'member')
    const writer = await newToken(api.http, member.token, { scopes: ['write'] })
    const res = await api.http.post('/tokens', { token: writer, body: { name: 'up', scopes: ['admin'] } })
    expectError(res, 403, 'forbidden', 'scope_exceeds_role')
  })

  test('a token that expires cannot mint a token that outlives it', async () => {
    const shortLived = await newToken(api.http, admin, { scopes: ['admin'], expires_in_days: 2 })
    for (const body of [{}, { expires_in_days: 3 }]) {
      const res = await api.http.post('/tokens', { token: shortLived, body: { name: 'longer', ...body } })
      expectError(res, 403, 'forbidden', 'expiry_exceeds_token')
      expect(Date.parse(res.body.details.expires_at)).toBeGreaterThan(Date.now())
    }
    const shorter = await api.http.post('/tokens', {
      token: shortLived,
      body: { name: 'shorter', expires_in_days: 1 },
    })
    expect(shorter.status, shorter.text).toBe(201)
  })

  test('a token that expires cannot create users nor set a role or password that never expire', async () => {
    const shortLived = await newToken(api.http, admin, { scopes: ['admin'], expires_in_days: 2 })
    const member = await createUser(api.http, admin, 'member')
    const created = await api.http.post('/users', {
      token: shortLived,
      body: { email: `lasting-${run}@example.com`, password: 'password 123', role: 'admin' },
    })
    expectError(created, 403, 'forbidden', 'expiry_exceeds_token')
    const promoted = await api.http.patch(`/users/${member.id}`, {
      token: shortLived,
      body: { role: 'admin' },
    })
    expectError(promoted, 403, 'forbidden', 'expiry_exceeds_token')
    const reset = await api.http.patch(`/users/${member.id}`, {
      token: shortLived,
      body: { password: 'taken over 123' },
    })
    expectError(reset, 403, 'forbidden', 'expiry_exceeds_token')
    // Nothing changed: the member keeps its role and password.
    expect((await api.http.get(`/users/${member.id}`, { token: admin })).body.user.role).toBe('member')
    expect(await login(api.http, member.email, member.password)).toBeTruthy()
    // A token without expiry may.
    const lasting = await newToken(api.http, admin, { scopes: ['admin'] })
    expect(
      (await api.http.patch(`/users/${member.id}`, { token: lasting, body: { role: 'viewer' } })).status,
    ).toBe(200)
  })
})

describe('who may see secret values', () => {
  let host: ContainerHost
  const SECRET = `tok-${run}-secret`

  beforeAll(async () => {
    host = await startContainerHost(`t${run}-reveal`, [
      '--name',
      `t${run}-reveal`,
      '-e',
      `API_TOKEN=${SECRET}`,
      TEST_IMAGE,
      'sh',
      '-c',
      // What an app does with its env: keeps it in a file too.
      "env > /tmp/app.env; trap 'exit 0' TERM; sleep 3600 & wait",
    ])
  })
  afterAll(() => host?.stop())

  test("an admin's read token cannot reveal a container's secret env", async () => {
    const { api, admin, serverId, containerId } = host
    const reader = await newToken(api.http, admin, { scopes: ['read'] })
    const path = `/servers/${serverId}/containers/${containerId}`
    const masked = await api.http.get(path, { token: reader })
    expect(masked.status).toBe(200)
    expect(masked.body.container.env.API_TOKEN).toBe('********')
    const res = await api.http.get(`${path}?reveal=true`, { token: reader })
    expectError(res, 403, 'forbidden', 'reveal_forbidden')
    expect(res.text).not.toContain(SECRET)
  })

  test('a viewer cannot reveal a container or an app env; a write token can', async () => {
    const { api, admin, serverId, containerId } = host
    const viewer = await createUser(api.http, admin, 'viewer')
    const path = `/servers/${serverId}/containers/${containerId}?reveal=true`
    const container = await api.http.get(path, { token: viewer.token })
    expectError(container, 403, 'forbidden', 'reveal_forbidden')
    expect(container.text).not.toContain(SECRET)

    const app = await api.http.post('/apps', {
      token: admin,
      body: {
        name: `t${run}-env`,
        server_id: serverId,
        port: 3000,
        source: { type: 'upload' },
        env: { API_TOKEN: SECRET },
      },
    })
    expect(app.status, app.text).toBe(201)
    const env = `/apps/${app.body.app.id}/env?reveal=true`
    const reader = await newToken(api.http, admin, { scopes: ['read'] })
    for (const token of [viewer.token, reader]) {
      const res = await api.http.get(env, { token })
      expectError(res, 403, 'forbidden', 'reveal_forbidden')
      expect(res.text).not.toContain(SECRET)
    }

    const writer = await newToken(api.http, admin, { scopes: ['write'] })
    expect((await api.http.get(path, { token: writer })).body.container.env.API_TOKEN).toBe(SECRET)
    expect((await api.http.get(env, { token: writer })).body.env[0].value).toBe(SECRET)
  })

  test("a viewer or a read token cannot read a container's files, where its env may be too", async () => {
    const { api, admin, serverId, containerId } = host
    const viewer = await createUser(api.http, admin, 'viewer')
    const reader = await newToken(api.http, admin, { scopes: ['read'] })
    const path = `/servers/${serverId}/containers/${containerId}/files?path=/tmp/app.env`
    for (const token of [viewer.token, reader]) {
      const res = await api.http.get(path, { token })
      expectError(res, 403, 'forbidden', 'reveal_forbidden')
      expect(res.text).not.toContain(SECRET)
    }
    const writer = await newToken(api.http, admin, { scopes: ['write'] })
    const read = await api.http.get(path, { token: writer })
    expect(read.status).toBe(200)
    expect(read.text).toContain(`API_TOKEN=${SECRET}`)
  })
})

describe('sessions end with the password, the account or the role', () => {
  test('changing your own password ends every session and gives a fresh one back', async () => {
    const member = await createUser(api.http, admin, 'member')
    const other = await login(api.http, member.email, member.password)
    const pat = await newToken(api.http, member.token, { scopes: ['write'] })
    const res = await api.http.post('/auth/password', {
      token: member.token,
      body: { current_password: member.password, password: 'a new password 123' },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.user).toMatchObject({ id: member.id, email: member.email })
    expect(res.text).not.toContain('a new password 123')
    for (const ended of [member.token, other]) {
      const me = await api.http.get('/auth/me', { token: ended })
      expect(me.status).toBe(401)
      expect(me.body).toMatchObject({ error: 'auth_error', status: 401 })
    }
    expect((await api.http.get('/auth/me', { token: res.body.token })).status).toBe(200)
    // API tokens are kept, as documented.
    expect((await api.http.get('/auth/me', { token: pat })).status).toBe(200)
    const old = await api.http.post('/auth/login', {
      body: { email: member.email, password: member.password },
    })
    expectError(old, 401, 'auth_error', 'invalid_credentials')
    expect(await login(api.http, member.email, 'a new password 123')).toBeTruthy()

    const audit = JSON.stringify(await api.sql('select * from audit_log'))
    expect(audit).not.toContain('a new password 123')
    expect(audit).not.toContain(member.password)
  })

  test('a wrong current password is refused and nothing changes', async () => {
    const member = await createUser(api.http, admin, 'member')
    const res = await api.http.post('/auth/password', {
      token: member.token,
      body: { current_password: 'not my password', password: 'a new password 123' },
    })
    expectError(res, 403, 'forbidden', 'wrong_password')
    expect((await api.http.get('/auth/me', { token: member.token })).status).toBe(200)
    expect(await login(api.http, member.email, member.password)).toBeTruthy()
  })

  test("an admin's password reset ends the user's sessions", async () => {
    const member = await createUser(api.http, admin, 'member')
    const reset = await api.http.patch(`/users/${member.id}`, {
      token: admin,
      body: { password: 'reset by admin 1' },
    })
    expect(reset.status, reset.text).toBe(200)
    const me = await api.http.get('/auth/me', { token: member.token })
    expect(me.status).toBe(401)
    expect(me.body).toMatchObject({ error: 'auth_error', status: 401 })
    expect(await login(api.http, member.email, 'reset by admin 1')).toBeTruthy()
  })

  test('a disabled user stays logged out when enabled again', async () => {
    const member = await createUser(api.http, admin, 'member')
    const pat = await newToken(api.http, member.token, { scopes: ['read'] })
    await api.http.patch(`/users/${member.id}`, { token: admin, body: { disabled: true } })
    for (const bearer of [member.token, pat]) {
      expect((await api.http.get('/auth/me', { token: bearer })).status).toBe(401)
    }
    await api.http.patch(`/users/${member.id}`, { token: admin, body: { disabled: false } })
    const me = await api.http.get('/auth/me', { token: member.token })
    expect(me.status).toBe(401)
    expect(me.body).toMatchObject({ error: 'auth_error', status: 401 })
    expect(await login(api.http, member.email, member.password)).toBeTruthy()
  })

  test("a demoted admin's sessions and tokens lose admin access on their next request", async () => {
    const other = await createUser(api.http, admin, 'admin')
    const pat = await newToken(api.http, other.token, { scopes: ['admin'] })
    expect((await api.http.get('/users', { token: pat })).status).toBe(200)
    await api.http.patch(`/users/${other.id}`, { token: admin, body: { role: 'viewer' } })
    for (const bearer of [other.token, pat]) {
      expectError(
        await api.http.get('/users', { token: bearer }),
        403,
        'forbidden',
        'insufficient_permissions',
      )
    }
  })

  test("a deleted user's sessions and tokens stop working", async () => {
    const member = await createUser(api.http, admin, 'member')
    const pat = await newToken(api.http, member.token, { scopes: ['read'] })
    expect((await api.http.delete(`/users/${member.id}`, { token: admin })).status).toBe(204)
    for (const bearer of [member.token, pat]) {
      const me = await api.http.get('/auth/me', { token: bearer })
      expect(me.status).toBe(401)
      expect(me.body).toMatchObject({ error: 'auth_error', status: 401 })
    }
  })

  test('a password change on one API instance ends the session on another sharing the database', async () => {
    // Two Node processes on one database file: the only runtime that runs two instances here.
    const first = await startApi({ target: 'node' })
    let second: ApiTarget | undefined
    try {
      const token = await registerAdmin(first.http)
      second = await startApi({
        target: 'node',
        env: { DATABASE_URL: `file:${first.dataDir}/berth.db`, BERTH_DATA_DIR: first.dataDir },
      })
      const other = second
      // Seen, and so cached, by the second instance.
      expect((await other.http.get('/auth/me', { token })).status).toBe(200)
      const changed = await first.http.post('/auth/password', {
        token,
        body: { current_password: ADMIN.password, password: 'changed elsewhere 1' },
      })
      expect(changed.status, changed.text).toBe(200)
      await expect
        .poll(async () => (await other.http.get('/auth/me', { token })).status, { timeout: 5_000 })
        .toBe(401)
      expect((await other.http.get('/auth/me', { token: changed.body.token })).status).toBe(200)
    } finally {
      await second?.stop()
      await first.stop()
    }
  })
})

describe('the login limit', () => {
  test('200 concurrent wrong passwords get at most 10 answers of 401, the rest 429', async () => {
    const member = await createUser(api.http, admin, 'viewer')
    const answers = await concurrently(200, () =>
      api.http.post('/auth/login', { body: { email: member.email, password: 'wrong password' } }),
    )
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10)
    expect(answers.filter((a) => a.status !== 401 && a.status !== 429).map((a) => a.text)).toEqual([])
    const limited = answers.find((a) => a.status === 429) as Reply
    expectError(limited, 429, 'rate_limited', 'too_many_login_failures')
    expect(limited.headers.get('retry-after')).toBe('60')
    const right = await api.http.post('/auth/login', {
      body: { email: member.email, password: member.password },
    })
    expectError(right, 429, 'rate_limited', 'too_many_login_failures')
  })

  test('wrong current passwords on a password change count toward the same limit', async () => {
    const member = await createUser(api.http, admin, 'member')
    const answers = await concurrently(30, () =>
      api.http.post('/auth/password', {
        token: member.token,
        body: { current_password: 'guessing 123', password: 'a new password 123' },
      }),
    )
    expect(answers.filter((a) => a.status === 403).length).toBeLessThanOrEqual(10)
    expect(answers.filter((a) => a.status !== 403 && a.status !== 429).map((a) => a.text)).toEqual([])
    const right = await api.http.post('/auth/password', {
      token: member.token,
      body: { current_password: member.password, password: 'a new password 123' },
    })
    expectError(right, 429, 'rate_limited', 'too_many_login_failures')
    const login = await api.http.post('/auth/login', {
      body: { email: member.email, password: member.password },
    })
    expectError(login, 429, 'rate_limited', 'too_many_login_failures')
  })

  test('right passwords do not use up the limit', async () => {
    const member = await createUser(api.http, admin, 'viewer')
    for (let i = 0; i < 15; i++) expect(await login(api.http, member.email, member.password)).toBeTruthy()
  })
})
