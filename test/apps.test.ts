import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { appHost } from './support/apps.ts'
import { TEST_IMAGE } from './support/docker.ts'
import { createUser } from './support/flows.ts'
import { waitFor } from './support/process.ts'

// Apps as records: create, read, update, roles, env and deploy keys. Deployments are in deployments*.test.ts.

const host = appHost()
const SECRET = `s3cr3t-${Math.random().toString(36).slice(2, 7)}-value`

describe('apps', () => {
  test('an app is created, read, updated and listed, and its name is unique', async () => {
    const { api, admin, serverId, appName } = host
    const app = await host.createApp({ name: appName('crud'), source: { type: 'image', image: TEST_IMAGE } })
    expect(app).toMatchObject({
      name: appName('crud'),
      server_id: serverId,
      source: { type: 'image', image: TEST_IMAGE },
      port: 3000,
      instances: 1,
      auto_deploy: true,
      status: null,
      host_port: null,
    })
    const dup = await api.http.post('/apps', {
      token: admin,
      body: { name: appName('crud'), server_id: serverId, source: { type: 'upload' } },
    })
    expect(dup.status).toBe(409)
    expect(dup.body.error).toBe('conflict')
    const patched = await api.http.patch(`/apps/${app.id}`, {
      token: admin,
      body: { instances: 2, auto_deploy: false },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.app).toMatchObject({ instances: 2, auto_deploy: false })
    const list = await api.http.get('/apps', { token: admin })
    expect(list.body.apps.map((a: any) => a.name)).toContain(appName('crud'))
  })

  test('bad app input is a 400 and writes nothing', async () => {
    const { api, admin, serverId, appName } = host
    for (const body of [
      { name: 'Not_DNS', server_id: serverId, source: { type: 'upload' } },
      { name: appName('x'), server_id: serverId, source: { type: 'git', url: 'not a url' } },
      { name: appName('x'), server_id: serverId, source: { type: 'upload' }, env: { PORT: '1' } },
      { name: appName('x'), server_id: serverId, source: { type: 'upload' }, health_check: { interval: 1 } },
      {
        name: appName('x'),
        server_id: serverId,
        source: { type: 'git', url: 'https://example.com/r.git', context: '../etc' },
      },
    ]) {
      const res = await api.http.post('/apps', { token: admin, body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error).toBe('validation_error')
    }
    const missing = await api.http.post('/apps', {
      token: admin,
      body: { name: appName('x'), server_id: 'srv_nope', source: { type: 'upload' } },
    })
    expect(missing.status).toBe(404)
    expect((await api.sql('select count(*) as n from apps where name = ?', [appName('x')]))[0]).toEqual({
      n: 0,
    })
  })

  test('a viewer reads apps but cannot change them, see env values, or deploy', async () => {
    const { api, admin } = host
    const app = await host.createApp({
      name: host.appName('roles'),
      source: { type: 'upload' },
      env: { API_TOKEN: SECRET },
    })
    const viewer = await createUser(api.http, admin, 'viewer')
    const member = await createUser(api.http, admin, 'member')
    expect((await api.http.get(`/apps/${app.id}`, { token: viewer.token })).status).toBe(200)
    const env = await api.http.get(`/apps/${app.id}/env`, { token: viewer.token })
    expect(env.body.env).toEqual([{ key: 'API_TOKEN', value: null, updated_at: expect.any(String) }])
    expect((await api.http.get(`/apps/${app.id}/env?reveal=true`, { token: viewer.token })).status).toBe(403)
    expect((await api.http.post(`/apps/${app.id}/deploy`, { token: viewer.token })).status).toBe(403)
    expect(
      (await api.http.patch(`/apps/${app.id}`, { token: viewer.token, body: { instances: 2 } })).status,
    ).toBe(403)
    const revealed = await api.http.get(`/apps/${app.id}/env?reveal=true`, { token: member.token })
    expect(revealed.body.env[0].value).toBe(SECRET)
  })

  test('a git source on file:// is for admins only', async () => {
    const { api, admin, serverId } = host
    const member = await createUser(api.http, admin, 'member')
    const fileUrl = await api.http.post('/apps', {
      token: member.token,
      body: { name: host.appName('file'), server_id: serverId, source: { type: 'git', url: 'file:///etc' } },
    })
    expect(fileUrl.status).toBe(403)
  })

  test('env values are stored encrypted, never in clear, and set/delete merge', async () => {
    const { api, admin } = host
    const app = await host.createApp({
      name: host.appName('env'),
      source: { type: 'upload' },
      env: { DB_PASSWORD: SECRET },
    })
    const set = await api.http.request('PUT', `/apps/${app.id}/env`, {
      token: admin,
      body: { env: { OTHER: 'plain-value', DB_PASSWORD: `${SECRET}-2` } },
    })
    expect(set.status, set.text).toBe(200)
    expect(set.body.env.map((e: any) => e.key)).toEqual(['DB_PASSWORD', 'OTHER'])
    const rows = await api.sql<{ value: string }>('select value from app_env where app_id = ?', [app.id])
    expect(rows).toHaveLength(2)
    for (const row of rows) {
      expect(row.value).toMatch(/^v1\./)
      expect(row.value).not.toContain(SECRET)
      expect(row.value).not.toContain('plain-value')
    }
    // Nowhere in the database's files either (the WAL included), on either runtime.
    const files = readdirSync(api.dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile())
    expect(files.some((f) => /\.(db|sqlite)(-wal)?$/.test(f.name))).toBe(true)
    for (const f of files)
      expect(readFileSync(join(f.parentPath, f.name)).includes(Buffer.from(SECRET))).toBe(false)
    expect((await api.http.delete(`/apps/${app.id}/env/OTHER`, { token: admin })).status).toBe(204)
    expect((await api.http.delete(`/apps/${app.id}/env/OTHER`, { token: admin })).status).toBe(404)
    // Audited, without the values.
    const audit = await waitFor('the env writes in the audit log', async () => {
      const rows = await api.sql<{ action: string; target: string }>(
        `select action, target from audit_log where action like '%/env%'`,
      )
      return rows.length >= 2 ? rows : undefined
    })
    expect(JSON.stringify(audit)).not.toContain(SECRET)
    expect(JSON.stringify(await api.sql('select * from audit_log'))).not.toContain(SECRET)
  })

  test('deploy keys are ed25519, shown as OpenSSH public keys, stored encrypted, and regenerate', async () => {
    const { api, admin } = host
    const app = await host.createApp({ name: host.appName('key'), source: { type: 'upload' } })
    expect((await api.http.get(`/apps/${app.id}/deploy-key`, { token: admin })).status).toBe(404)
    const first = await api.http.post(`/apps/${app.id}/deploy-key`, { token: admin })
    expect(first.status).toBe(201)
    expect(first.body.deploy_key.public_key).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ berth-/)
    const second = await api.http.post(`/apps/${app.id}/deploy-key`, { token: admin })
    expect(second.body.deploy_key.public_key).not.toBe(first.body.deploy_key.public_key)
    const [row] = await api.sql<{ s: string }>('select deploy_key_secret as s from apps where id = ?', [
      app.id,
    ])
    expect(row!.s).toMatch(/^v1\./)
    expect(row!.s).not.toContain('OPENSSH')
  })

  test('an upload over the limit is a 413 and nothing is queued', async () => {
    const { api, admin } = host
    const app = await host.createApp({ name: host.appName('big'), source: { type: 'upload' } })
    const res = await fetch(`${api.url}/api/v1/apps/${app.id}/deploy`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/gzip' },
      body: new Uint8Array(101 * 1024 * 1024),
    })
    expect(res.status).toBe(413)
    expect((await res.json()).error).toBe('payload_too_large')
    expect((await api.http.get(`/apps/${app.id}/deployments`, { token: admin })).body.deployments).toEqual([])
  })
})
