import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { dockerfile, fetchApp } from './support/apps.ts'
import { docker } from './support/docker.ts'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { processAlive, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

test('npm start runs a local agent for the server named local, and keeps it across restarts', async () => {
  let api: ApiTarget | undefined
  try {
    api = await startApi({ localAgent: true })
    const started = api
    await waitFor('the start banner', () => started.output().includes('Health:'))
    expect(api.output()).toContain('Local agent: started for server "local"')
    expect(api.output()).toContain('Create the first user')
    // Where to go next: the dashboard, served by the same process.
    const dashboard = api.output().match(/Dashboard: (http:\/\/localhost:\d+\/)/)?.[1]
    expect(dashboard).toBeDefined()
    const page = await fetch(dashboard!.replace('localhost', '127.0.0.1'))
    expect(await page.text()).toContain('<div id="app">')
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

test('the local agent is its own process: its app answers while the API is stopped, and it reconnects', async () => {
  const image = `berth-test-local-${Math.random().toString(36).slice(2, 7)}:latest`
  const context = mkdtempSync(join(tmpdir(), 'berth-local-app-'))
  let api: ApiTarget | undefined
  try {
    writeFileSync(join(context, 'Dockerfile'), dockerfile())
    writeFileSync(join(context, 'index.html'), 'on the local server\n')
    docker('build', '-q', '-t', image, context)
    api = await startApi({ localAgent: true })
    const admin = await registerAdmin(api.http)
    const local = (await api.http.get('/servers', { token: admin })).body.servers.find(
      (s: { name: string }) => s.name === 'local',
    )
    await waitForServerStatus(api.http, admin, local.id, 'online')
    const agentPid = Number(readFileSync(join(api.dataDir, 'local-agent.pid'), 'utf8'))
    const created = await api.http.post('/apps', {
      token: admin,
      body: { name: 'local-app', server_id: local.id, port: 3000, source: { type: 'image', image } },
    })
    expect(created.status, created.text).toBe(201)
    const app = created.body.app
    const deployed = await api.http.post(`/apps/${app.id}/deploy`, { token: admin })
    expect(deployed.status, deployed.text).toBe(202)
    const running = await waitFor(
      'the app to run',
      async () => {
        const res = await api!.http.get(`/apps/${app.id}`, { token: admin })
        return res.body.app.status === 'running' && res.body.app.host_port ? res.body.app : undefined
      },
      60_000,
    )
    expect(await fetchApp(running.host_port)).toBe('on the local server\n')

    await api.halt()
    expect(await fetchApp(running.host_port)).toBe('on the local server\n')
    expect(processAlive(agentPid)).toBe(true)

    await api.restart()
    await waitFor('the start banner', () => api!.output().includes('Local agent: running already'))
    // The server's row may still say online from before; a round trip shows the agent is back.
    await waitFor('the local agent to answer again', async () => {
      return (await api!.http.post(`/servers/${local.id}/validate`, { token: admin })).status === 200
    })
    expect(Number(readFileSync(join(api.dataDir, 'local-agent.pid'), 'utf8'))).toBe(agentPid)
    expect(await fetchApp(running.host_port)).toBe('on the local server\n')
    const servers = (await api.http.get('/servers', { token: admin })).body.servers
    expect(servers.filter((s: { name: string }) => s.name === 'local')).toHaveLength(1)
    expect((await api.http.delete(`/apps/${app.id}`, { token: admin })).status).toBe(204)
  } finally {
    await api?.stop()
    rmSync(context, { recursive: true, force: true })
    docker('rmi', '-f', image)
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
