import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ADMIN, createUser, login, registerAdmin } from './support/flows.ts'
import { type ApiTarget, startApi } from './support/target.ts'

let api: ApiTarget
let admin: string

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})
afterAll(() => api?.stop())

describe('users and roles', () => {
  test('the first user is admin and registration is closed after it', async () => {
    const me = await api.http.get('/auth/me', { token: admin })
    expect(me.status).toBe(200)
    expect(me.body.user).toMatchObject({ email: ADMIN.email, role: 'admin' })
    expect(me.body.user.password_hash).toBeUndefined()

    const second = await api.http.post('/auth/register', {
      body: { email: 'late@example.com', password: 'password 123' },
    })
    expect(second.status).toBe(403)
    expect(second.body).toMatchObject({ error: 'forbidden', code: 'registration_closed', status: 403 })
  })

  test('a viewer reads only; a member cannot manage servers or users; an admin can', async () => {
    const viewer = await createUser(api.http, admin, 'viewer')
    const member = await createUser(api.http, admin, 'member')

    expect((await api.http.get('/servers', { token: viewer.token })).status).toBe(200)
    expect((await api.http.get('/servers', { token: member.token })).status).toBe(200)

    for (const who of [viewer, member]) {
      const server = await api.http.post('/servers', { token: who.token, body: { name: 'not-allowed' } })
      expect(server.status).toBe(403)
      expect(server.body.error).toBe('forbidden')
      expect((await api.http.get('/users', { token: who.token })).status).toBe(403)
      expect(
        (
          await api.http.post('/users', {
            token: who.token,
            body: { email: 'x@example.com', password: 'password 123' },
          })
        ).status,
      ).toBe(403)
      expect((await api.http.get('/audit', { token: who.token })).status).toBe(403)
    }
    // A viewer's token can only read; it may not ask for more.
    const tooMuch = await api.http.post('/tokens', {
      token: viewer.token,
      body: { name: 'ci', scopes: ['write'] },
    })
    expect(tooMuch.status).toBe(403)
    expect(tooMuch.body.code).toBe('scope_exceeds_role')

    const created = await api.http.post('/servers', { token: admin, body: { name: 'allowed' } })
    expect(created.status).toBe(201)
    expect((await api.http.get('/users', { token: admin })).body.users.length).toBeGreaterThanOrEqual(3)

    const servers = await api.http.get('/servers', { token: viewer.token })
    expect(servers.body.servers.map((s: { name: string }) => s.name)).toContain('allowed')
    expect(servers.body.next_cursor).toBeNull()
  })

  test('an admin changes a role and disables a user, effective on the next request', async () => {
    const member = await createUser(api.http, admin, 'member')
    const promoted = await api.http.patch(`/users/${member.id}`, { token: admin, body: { role: 'admin' } })
    expect(promoted.status).toBe(200)
    expect(promoted.body.user.role).toBe('admin')
    expect((await api.http.get('/users', { token: member.token })).status).toBe(200)

    const disabled = await api.http.patch(`/users/${member.id}`, { token: admin, body: { disabled: true } })
    expect(disabled.body.user.disabled).toBe(true)
    expect((await api.http.get('/auth/me', { token: member.token })).status).toBe(401)
    const relogin = await api.http.post('/auth/login', {
      body: { email: member.email, password: member.password },
    })
    expect(relogin.status).toBe(401)

    expect((await api.http.delete(`/users/${member.id}`, { token: admin })).status).toBe(204)
    expect((await api.http.get(`/users/${member.id}`, { token: admin })).status).toBe(404)
  })

  test('the last admin cannot be demoted or delete itself', async () => {
    const me = await api.http.get('/auth/me', { token: admin })
    const demote = await api.http.patch(`/users/${me.body.user.id}`, {
      token: admin,
      body: { role: 'member' },
    })
    // Another admin was made and removed above, so the first admin is the only one left.
    expect(demote.status).toBe(422)
    expect(demote.body).toMatchObject({ error: 'state_error', code: 'last_admin' })
    expect((await api.http.delete(`/users/${me.body.user.id}`, { token: admin })).status).toBe(422)
  })

  test('a password is stored only as a salted PBKDF2 hash', async () => {
    const rows = await api.sql<{ password_hash: string }>('select password_hash from users')
    const hashes = rows.map((r) => r.password_hash)
    expect(hashes.every((h) => h.startsWith('pbkdf2-sha256$'))).toBe(true)
    expect(new Set(hashes.map((h) => h.split('$')[2])).size).toBe(hashes.length)
    expect(hashes.join()).not.toContain(ADMIN.password)
  })
})

describe('logins', () => {
  test('ten failed logins in a minute lock that account from that address with 429', async () => {
    const user = await createUser(api.http, admin, 'viewer')
    for (let i = 0; i < 10; i++) {
      const wrong = await api.http.post('/auth/login', {
        body: { email: user.email, password: 'wrong password' },
      })
      expect(wrong.status).toBe(401)
      expect(wrong.body.code).toBe('invalid_credentials')
    }
    const locked = await api.http.post('/auth/login', {
      body: { email: user.email, password: user.password },
    })
    expect(locked.status).toBe(429)
    expect(locked.body).toMatchObject({ error: 'rate_limited', status: 429 })
    expect(locked.headers.get('retry-after')).toBe('60')
    // Other accounts are not affected.
    expect(await login(api.http, ADMIN.email, ADMIN.password)).toBeTruthy()
  })

  test('an unknown email and a wrong password get the same answer', async () => {
    const unknown = await api.http.post('/auth/login', {
      body: { email: 'nobody@example.com', password: 'whatever 123' },
    })
    const wrong = await api.http.post('/auth/login', {
      body: { email: ADMIN.email, password: 'whatever 123' },
    })
    expect(unknown.status).toBe(401)
    expect(wrong.status).toBe(401)
    expect(unknown.body.message).toBe(wrong.body.message)
  })

  test('a tampered session token is refused', async () => {
    const [head, body] = admin.split('.')
    const forged = `${head}.${body}.${'A'.repeat(43)}`
    const res = await api.http.get('/auth/me', { token: forged })
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('auth_error')
  })
})

describe('API tokens', () => {
  test('create, use, list without the value, revoke', async () => {
    const created = await api.http.post('/tokens', {
      token: admin,
      body: { name: 'deploy bot', scopes: ['read', 'write'], expires_in_days: 30 },
    })
    expect(created.status).toBe(201)
    const value: string = created.body.token.value
    expect(value).toMatch(/^berth_pat_[A-Za-z0-9_-]{43}$/)
    expect(created.body.token.scopes).toEqual(['read', 'write'])
    expect(Date.parse(created.body.token.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000)

    const me = await api.http.get('/auth/me', { token: value })
    expect(me.status).toBe(200)
    expect(me.body.auth).toMatchObject({ type: 'token', token_id: created.body.token.id })

    const list = await api.http.get('/tokens', { token: admin })
    const listed = list.body.tokens.find((t: { id: string }) => t.id === created.body.token.id)
    expect(listed.value).toBeUndefined()
    expect(listed.last_used_at).not.toBeNull()
    expect(list.text).not.toContain(value)

    const stored = await api.sql<{ token_hash: string }>('select token_hash from api_tokens where id = ?', [
      created.body.token.id,
    ])
    expect(stored[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(await api.sql('select * from api_tokens'))).not.toContain(value)

    expect((await api.http.delete(`/tokens/${created.body.token.id}`, { token: admin })).status).toBe(204)
    const after = await api.http.get('/auth/me', { token: value })
    expect(after.status).toBe(401)
    expect(after.body.error).toBe('auth_error')
  })

  test('a read token reads but cannot write, nor mint itself a stronger token', async () => {
    const created = await api.http.post('/tokens', {
      token: admin,
      body: { name: 'reader', scopes: ['read'] },
    })
    const reader: string = created.body.token.value
    expect((await api.http.get('/servers', { token: reader })).status).toBe(200)
    const post = await api.http.post('/servers', { token: reader, body: { name: 'from-reader' } })
    expect(post.status).toBe(403)
    expect(post.body.message).toContain('this token')
    expect(
      (await api.http.post('/tokens', { token: reader, body: { name: 'escalate', scopes: ['admin'] } }))
        .status,
    ).toBe(403)
    // Even an admin's token is bounded by its scopes.
    expect((await api.http.get('/users', { token: reader })).status).toBe(403)
  })
})

describe('audit log', () => {
  test('mutating requests are recorded with actor, outcome and duration, and no secrets', async () => {
    const server = await api.http.post('/servers', { token: admin, body: { name: 'audited' } })
    await api.http.post('/servers', { token: admin, body: { name: 'audited' } }) // a 409
    const log = await api.http.get('/audit?limit=200', { token: admin })
    expect(log.status).toBe(200)
    const entries = log.body.entries as any[]
    const created = entries.find(
      (e) => e.action === 'POST /api/v1/servers' && e.status === 201 && e.target === server.body.server.id,
    )
    expect(created).toMatchObject({ actor: { type: 'user' } })
    expect(created.request_id).toMatch(/^req_/)
    expect(typeof created.duration_ms).toBe('number')
    expect(entries.some((e) => e.action === 'POST /api/v1/servers' && e.status === 409)).toBe(true)
    expect(entries.some((e) => e.action === 'POST /api/v1/auth/login' && e.status === 429)).toBe(true)
    expect(entries.every((e) => e.action.split(' ')[0] !== 'GET')).toBe(true)

    const everything = JSON.stringify(await api.sql('select * from audit_log'))
    expect(everything).not.toContain(ADMIN.password)
    expect(everything).not.toContain(server.body.enrollment.token)
    expect(everything).not.toContain('berth_pat_')
  })

  test('pages through the log with a cursor', async () => {
    const first = await api.http.get('/audit?limit=2', { token: admin })
    expect(first.body.entries).toHaveLength(2)
    expect(first.body.next_cursor).toEqual(expect.any(String))
    const second = await api.http.get(`/audit?limit=2&cursor=${first.body.next_cursor}`, { token: admin })
    expect(second.body.entries).toHaveLength(2)
    const ids = [...first.body.entries, ...second.body.entries].map((e: { id: string }) => e.id)
    expect(new Set(ids).size).toBe(4)
  })

  test('filters by actor, by text in the action and by outcome, with a cursor within the filter', async () => {
    const me = (await api.http.get('/auth/me', { token: admin })).body.user.id
    await api.http.post('/servers', { token: admin, body: { name: 'filtered-1' } })
    await api.http.post('/servers', { token: admin, body: { name: 'filtered-1' } }) // a 409
    await api.http.post('/servers', { token: admin, body: { name: 'filtered-2' } })
    const failed = (await api.http.get('/audit?action=/servers&failed=true', { token: admin })).body.entries
    expect(failed.length).toBeGreaterThan(0)
    expect(failed.every((e: any) => e.status >= 400 && e.action.includes('/servers'))).toBe(true)
    const ok = await api.http.get(`/audit?actor=${me}&action=POST%20/api/v1/servers&failed=false&limit=1`, {
      token: admin,
    })
    expect(ok.body.entries).toEqual([
      expect.objectContaining({ status: 201, actor: { type: 'user', id: me } }),
    ])
    const next = await api.http.get(
      `/audit?actor=${me}&action=POST%20/api/v1/servers&failed=false&limit=1&cursor=${ok.body.next_cursor}`,
      { token: admin },
    )
    expect(next.body.entries).toEqual([expect.objectContaining({ status: 201 })])
    expect(next.body.entries[0].id).not.toBe(ok.body.entries[0].id)
    // LIKE's wildcards are text here.
    expect((await api.http.get('/audit?action=%25', { token: admin })).body.entries).toEqual([])
    const bad = await api.http.get('/audit?failed=maybe', { token: admin })
    expect(bad.status).toBe(400)
    expect(bad.body.code).toBe('validation_error')
  })
})

test('with open registration, later users register themselves as members', async () => {
  const open = await startApi({ env: { BERTH_OPEN_REGISTRATION: 'true' } })
  try {
    await registerAdmin(open.http)
    const later = await open.http.post('/auth/register', {
      body: { email: 'second@example.com', password: 'password 123' },
    })
    expect(later.status).toBe(201)
    expect(later.body.user.role).toBe('member')
    const again = await open.http.post('/auth/register', {
      body: { email: 'SECOND@example.com', password: 'password 123' },
    })
    expect(again.status).toBe(409)
  } finally {
    await open.stop()
  }
})
