import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

test('npm start runs a local agent for the server named local, and keeps it across restarts', async () => {
  let api: ApiTarget | undefined
  try {
    api = await startApi({ localAgent: true })
    const started = api
    await waitFor('the start banner', () => started.output().includes('Health:'))
    expect(api.output()).toContain('Local agent: started for server "local"')
    expect(api.output()).toContain('Create the first user')
    const admin = await registerAdmin(api.http)

    const list = await api.http.get('/servers', { token: admin })
    const local = list.body.servers.find((s: { name: string }) => s.name === 'local')
    expect(local).toBeDefined()
    await waitForServerStatus(api.http, admin, local.id, 'online')
    expect((await api.http.post(`/servers/${local.id}/validate`, { token: admin })).status).toBe(200)

    // Secrets were generated once into the data folder, readable by the owner only.
    const secrets = join(api.dataDir, 'secrets.json')
    expect(statSync(secrets).mode & 0o777).toBe(0o600)
    expect(existsSync(join(api.dataDir, 'local-agent.json'))).toBe(true)
    const before = readFileSync(secrets, 'utf8')

    await api.restart()
    expect(readFileSync(secrets, 'utf8')).toBe(before)
    // The session from before the restart is still valid: the same secret signs it.
    await waitForServerStatus(api.http, admin, local.id, 'online')
    const again = await api.http.get('/servers', { token: admin })
    expect(again.body.servers.filter((s: { name: string }) => s.name === 'local')).toHaveLength(1)
  } finally {
    await api?.stop()
  }
})

/** Modes of the data folder and of every file in it, as `ls -l` shows them. */
function modes(dir: string): Record<string, number> {
  const out: Record<string, number> = { '.': statSync(dir).mode & 0o777 }
  for (const file of readdirSync(dir)) out[file] = statSync(join(dir, file)).mode & 0o777
  return out
}
const ownerOnly = (files: string[]) => Object.fromEntries([['.', 0o700], ...files.map((f) => [f, 0o600])])

test('with secrets from the environment, a fresh data folder is 0700 and the database files 0600', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-modes-'))
  const dataDir = join(root, 'data')
  let api: ApiTarget | undefined
  try {
    api = await startApi({
      env: {
        BERTH_DATA_DIR: dataDir,
        DATABASE_URL: `file:${join(dataDir, 'berth.db')}`,
        BERTH_JWT_SECRET: 'j'.repeat(40),
        BERTH_SECRET_KEY: 'k'.repeat(40),
      },
    })
    await registerAdmin(api.http)
    const seen = modes(dataDir)
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(['berth.db', 'berth.db-wal', 'berth.db-shm']))
    expect(Object.keys(seen)).not.toContain('secrets.json')
    expect(seen).toEqual(ownerOnly(Object.keys(seen).filter((f) => f !== '.')))
  } finally {
    await api?.stop()
    rmSync(root, { recursive: true, force: true })
  }
})

test('a data folder and database left with wider modes are tightened at start, with generated secrets', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-modes-'))
  const dataDir = join(root, 'data')
  const env = { BERTH_DATA_DIR: dataDir, DATABASE_URL: `file:${join(dataDir, 'berth.db')}` }
  let api: ApiTarget | undefined
  try {
    api = await startApi({ env })
    await registerAdmin(api.http)
    await api.stop()
    api = undefined
    chmodSync(dataDir, 0o777)
    for (const file of readdirSync(dataDir)) chmodSync(join(dataDir, file), 0o666)
    api = await startApi({ env })
    const files = Object.keys(modes(dataDir)).filter((f) => f !== '.')
    expect(files).toEqual(expect.arrayContaining(['berth.db', 'secrets.json']))
    expect(modes(dataDir)).toEqual(ownerOnly(files))
  } finally {
    await api?.stop()
    rmSync(root, { recursive: true, force: true })
  }
})

/** The address the audit log holds for the request with this id. */
async function auditedAddress(api: ApiTarget, token: string, requestId: string | null) {
  return waitFor('the request in the audit log', async () => {
    const entries = (await api.http.get('/audit?limit=200', { token })).body.entries as any[]
    return entries.find((e) => e.request_id === requestId)?.ip as string | undefined
  })
}

test('behind BERTH_TRUST_PROXY=true the client is the rightmost X-Forwarded-For entry, not one it wrote', async () => {
  let api: ApiTarget | undefined
  try {
    api = await startApi({ env: { BERTH_TRUST_PROXY: 'true' } })
    const admin = await registerAdmin(api.http)
    // A client varying the entries it writes itself still counts as the one address the proxy saw.
    const login = (spoof: string) =>
      api!.http.post('/auth/login', {
        body: { email: 'admin@example.com', password: 'not the password' },
        headers: { 'X-Forwarded-For': `${spoof}, 198.51.100.7` },
      })
    for (let i = 0; i < 10; i++) expect((await login(`203.0.113.${i}`)).status).toBe(401)
    const limited = await login('203.0.113.200')
    expect(limited.status).toBe(429)
    expect(limited.body).toMatchObject({ error: 'rate_limited', code: 'too_many_login_failures' })
    expect(await auditedAddress(api, admin, limited.headers.get('x-request-id'))).toBe('198.51.100.7')
    // An overlong entry from a proxy is cut before it is stored.
    const long = await api.http.post('/auth/login', {
      body: { email: 'x@example.com', password: 'x' },
      headers: { 'X-Forwarded-For': `1.2.3.4, ${'f'.repeat(500)}` },
    })
    expect(await auditedAddress(api, admin, long.headers.get('x-request-id'))).toBe('f'.repeat(64))
  } finally {
    await api?.stop()
  }
})

test('BERTH_TRUST_PROXY=2 takes the entry the outer of two proxies saw; false ignores the header', async () => {
  let api: ApiTarget | undefined
  try {
    api = await startApi({ env: { BERTH_TRUST_PROXY: '2' } })
    const admin = await registerAdmin(api.http)
    const res = await api.http.post('/auth/login', {
      body: { email: 'x@example.com', password: 'x' },
      headers: { 'X-Forwarded-For': '203.0.113.9, 198.51.100.9, 10.0.0.2' },
    })
    expect(await auditedAddress(api, admin, res.headers.get('x-request-id'))).toBe('198.51.100.9')
    await api.stop()
    api = await startApi({ env: { BERTH_TRUST_PROXY: 'false' } })
    const admin2 = await registerAdmin(api.http)
    const direct = await api.http.post('/auth/login', {
      body: { email: 'x@example.com', password: 'x' },
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    })
    expect(await auditedAddress(api, admin2, direct.headers.get('x-request-id'))).toBe('127.0.0.1')
  } finally {
    await api?.stop()
  }
})
