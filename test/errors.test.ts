import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { expectErrorBody, registerAdmin } from './support/flows.ts'
import { type ApiTarget, startApi } from './support/target.ts'

let api: ApiTarget
let admin: string

beforeAll(async () => {
  api = await startApi({ env: { BERTH_MAX_BODY_BYTES: '4096' } })
  admin = await registerAdmin(api.http)
})
afterAll(() => api?.stop())

async function counts() {
  const [row] = await api.sql<Record<string, number>>(`select
    (select count(*) from users) as users, (select count(*) from servers) as servers,
    (select count(*) from api_tokens) as tokens, (select count(*) from enrollment_tokens) as enrollments`)
  return row
}

describe('bad input', () => {
  let before: Awaited<ReturnType<typeof counts>>
  beforeAll(async () => {
    before = await counts()
  })

  test('malformed JSON is a 400', async () => {
    const res = await api.http.post('/servers', {
      token: admin,
      raw: '{"name": "a"',
      headers: { 'Content-Type': 'application/json' },
    })
    expectErrorBody(res, 400, 'validation_error')
  })

  test('a body that is not JSON is a 400 that says so', async () => {
    const res = await api.http.post('/servers', {
      token: admin,
      raw: 'name=a',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })
    expectErrorBody(res, 400, 'validation_error')
    expect(res.body.code).toBe('unsupported_content_type')
  })

  test('wrong types and missing fields name the field', async () => {
    const wrongType = await api.http.post('/servers', { token: admin, body: { name: 42 } })
    expectErrorBody(wrongType, 400, 'validation_error')
    expect(wrongType.body.details).toEqual([expect.objectContaining({ path: 'name' })])

    const missing = await api.http.post('/users', { token: admin, body: { role: 'member' } })
    expectErrorBody(missing, 400, 'validation_error')
    const paths = missing.body.details.map((d: { path: string }) => d.path)
    expect(paths).toEqual(expect.arrayContaining(['email', 'password']))

    const badRole = await api.http.post('/users', {
      token: admin,
      body: { email: 'x@example.com', password: 'password 123', role: 'root' },
    })
    expectErrorBody(badRole, 400, 'validation_error')

    const unknownField = await api.http.post('/servers', {
      token: admin,
      body: { name: 'ok-name', owner: 'me' },
    })
    expectErrorBody(unknownField, 400, 'validation_error')

    const badName = await api.http.post('/servers', { token: admin, body: { name: 'Not A DNS Name!' } })
    expectErrorBody(badName, 400, 'validation_error')

    const badLimit = await api.http.get('/servers?limit=100000', { token: admin })
    expectErrorBody(badLimit, 400, 'validation_error')
    const badCursor = await api.http.get('/servers?cursor=nonsense', { token: admin })
    expectErrorBody(badCursor, 400, 'validation_error')
  })

  test('a body over the limit is a 413', async () => {
    const res = await api.http.post('/servers', {
      token: admin,
      body: { name: 'big', description: 'x'.repeat(5000) },
    })
    expectErrorBody(res, 413, 'payload_too_large')
    expect(res.body.details).toEqual({ max_bytes: 4096 })
  })

  test('unknown ids and routes are 404', async () => {
    expectErrorBody(
      await api.http.get('/servers/srv_00000000000000000000000000', { token: admin }),
      404,
      'not_found',
    )
    expectErrorBody(
      await api.http.patch('/servers/srv_nope', { token: admin, body: { name: 'x' } }),
      404,
      'not_found',
    )
    expectErrorBody(await api.http.delete('/servers/srv_nope', { token: admin }), 404, 'not_found')
    expectErrorBody(await api.http.post('/servers/srv_nope/validate', { token: admin }), 404, 'not_found')
    expectErrorBody(await api.http.get('/users/usr_nope', { token: admin }), 404, 'not_found')
    expectErrorBody(await api.http.delete('/tokens/tok_nope', { token: admin }), 404, 'not_found')
    expectErrorBody(await api.http.get('/no/such/route', { token: admin }), 404, 'not_found')
    // Outside /api/ is the dashboard's: a read is its page (it routes the path itself), anything
    // else a 405, on both runtimes.
    expect(await (await fetch(`${api.url}/elsewhere`)).text()).toContain('<div id="app">')
    const written = await fetch(`${api.url}/elsewhere`, { method: 'POST' })
    expect(written.status).toBe(405)
  })

  test('no credentials, or bad ones, are a 401', async () => {
    const none = await api.http.get('/servers')
    expectErrorBody(none, 401, 'auth_error')
    expect(none.headers.get('www-authenticate')).toBe('Bearer')
    expectErrorBody(await api.http.get('/servers', { token: 'berth_pat_unknown' }), 401, 'auth_error')
    expectErrorBody(await api.http.get('/servers', { token: 'not.a.jwt' }), 401, 'auth_error')
    expectErrorBody(
      await api.http.post('/agent/enroll', { body: { token: 'berth_enr_unknown' } }),
      401,
      'auth_error',
    )
  })

  test('nothing was written by any rejected request', async () => {
    expect(await counts()).toEqual(before)
  })
})

test('duplicates are a 409 and leave the first one as it was', async () => {
  const first = await api.http.post('/servers', {
    token: admin,
    body: { name: 'twin', description: 'first' },
  })
  expect(first.status).toBe(201)
  const second = await api.http.post('/servers', {
    token: admin,
    body: { name: 'twin', description: 'second' },
  })
  expectErrorBody(second, 409, 'conflict')
  const list = await api.http.get('/servers', { token: admin })
  const twins = list.body.servers.filter((s: { name: string }) => s.name === 'twin')
  expect(twins).toHaveLength(1)
  expect(twins[0].description).toBe('first')
  const [row] = await api.sql<{ n: number }>(
    'select count(*) as n from enrollment_tokens where server_id = ?',
    [first.body.server.id],
  )
  expect(row?.n).toBe(1)
})

test('every response carries a request id', async () => {
  const ok = await api.http.get('/health')
  expect(ok.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/)
  const err = await api.http.get('/servers')
  expect(err.headers.get('x-request-id')).toBe(err.body.request_id)
})

test('health reports the database and the agents online', async () => {
  const res = await api.http.get('/health')
  expect(res.status).toBe(200)
  expect(res.body).toEqual({
    status: 'ok',
    version: expect.any(String),
    services: { database: 'ok', agents_online: 0 },
  })
})
