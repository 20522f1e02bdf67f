import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Client, createClient } from '@libsql/client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { type FakeLibsqlServer, startFakeLibsqlServer } from './support/fake-libsql-server.ts'
import { ADMIN, login, registerAdmin, waitForServerStatus } from './support/flows.ts'
import { ROOT } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The worker with DATABASE_URL set keeps its state on a libSQL server over HTTP, not in D1.
// No libSQL server can run here, so a fake one (test/support/fake-libsql-server.ts) stands in,
// writing to a real libSQL file that this test then reads.

let dir: string
let fake: FakeLibsqlServer
let api: ApiTarget
let file: Client
const token = randomBytes(24).toString('base64url')

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-libsql-'))
  fake = await startFakeLibsqlServer({ file: join(dir, 'berth.db'), token })
  // Asynchronously: the migrations go to the fake server that runs in this process.
  await promisify(execFile)('npm', ['run', '--silent', 'db:migrate'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: fake.url, DATABASE_AUTH_TOKEN: token },
  })
  api = await startApi({ target: 'workerd', env: { DATABASE_URL: fake.url, DATABASE_AUTH_TOKEN: token } })
  file = createClient({ url: `file:${join(dir, 'berth.db')}` })
})
afterAll(async () => {
  file?.close()
  await api?.stop()
  await fake?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('the worker on a libSQL server over HTTP', () => {
  test('users and servers land in the libSQL database, not in D1', async () => {
    const admin = await registerAdmin(api.http)
    const created = await api.http.post('/servers', { token: admin, body: { name: 'over-http' } })
    expect(created.status, created.text).toBe(201)
    const serverId = created.body.server.id as string

    const users = await file.execute({ sql: 'select email, role from users', args: [] })
    expect(users.rows.map((r) => ({ ...r }))).toEqual([{ email: ADMIN.email, role: 'admin' }])
    // Written in one batch with the server: the enrollment token is there too.
    const servers = await file.execute({
      sql: `select s.name, count(e.id) as enrollments from servers s
            left join enrollment_tokens e on e.server_id = s.id where s.id = ? group by s.id`,
      args: [serverId],
    })
    expect(servers.rows.map((r) => ({ ...r }))).toEqual([{ name: 'over-http', enrollments: 1 }])
    expect(await api.sql('select count(*) as n from users')).toEqual([{ n: 0 }])

    const listed = await api.http.get('/servers', { token: admin })
    expect(listed.body.servers.map((s: { id: string }) => s.id)).toEqual([serverId])
  })

  test('the AgentHub Durable Object records its agent there too', async () => {
    const admin = await login(api.http, ADMIN.email, ADMIN.password)
    const created = await api.http.post('/servers', { token: admin, body: { name: 'with-agent' } })
    expect(created.status, created.text).toBe(201)
    const serverId = created.body.server.id as string
    const agent = startAgentProcess({ api: api.url, token: created.body.enrollment.token, stateDir: dir })
    try {
      await waitForServerStatus(api.http, admin, serverId, 'online')
      const row = await file.execute({
        sql: 'select status, agent_version from servers where id = ?',
        args: [serverId],
      })
      expect(row.rows[0]).toMatchObject({ status: 'online', agent_version: expect.any(String) })
    } finally {
      await agent.stop()
    }
  })

  test('a token the server no longer takes: a 500 internal that shows nothing of it, and /health says database error', async () => {
    fake.setToken(randomBytes(24).toString('base64url'))
    try {
      const res = await api.http.post('/auth/login', { body: ADMIN })
      expect(res.status, res.text).toBe(500)
      expect(res.body).toEqual({
        error: 'internal',
        code: 'internal',
        message: expect.stringContaining('internal error'),
        status: 500,
        request_id: res.headers.get('x-request-id'),
        timestamp: expect.any(String),
      })
      expect(res.text).not.toMatch(/\bat .+\.(ts|js|mjs):\d+|401|libsql|SQL/i)

      const health = await api.http.get('/health')
      expect(health.status).toBe(503)
      expect(health.body).toMatchObject({ status: 'degraded', services: { database: 'error' } })
      // wrangler dev prints the vars it binds: the token is a secret, so it never shows.
      expect(api.output()).not.toContain(token)
    } finally {
      fake.setToken(token)
    }
    expect((await api.http.get('/health')).status).toBe(200)
  })
})
