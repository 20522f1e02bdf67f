import { execFileSync, spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { createUser, registerAdmin, startServerWithAgent, waitForServerStatus } from './support/flows.ts'
import { git } from './support/git.ts'
import { type Child, freePort, waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Apps end to end: a real API, a real agent process, the real Docker Engine and real git.
// Apps are built from a bare repository made here and cloned by the agent over file://.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
let stateDir: string
let work: string
const run = Math.random().toString(36).slice(2, 7)
const appName = (what: string) => `t${run}-${what}`
const SECRET = `s3cr3t-${run}-value`

/** The app the tests build: busybox httpd serving index.html, and the env it was started with. */
function dockerfile(extra = '') {
  return [
    `FROM ${TEST_IMAGE}`,
    'COPY index.html /www/index.html',
    extra,
    `CMD ["sh", "-c", "env > /www/env.txt; trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]`,
  ]
    .filter(Boolean)
    .join('\n')
}

/** A bare repository and a checkout to commit into; `commit` pushes and returns the sha. */
function repository(name: string) {
  const bare = join(work, `${name}.git`)
  const checkout = join(work, name)
  git(work, 'init', '--bare', '--initial-branch=main', bare)
  git(work, 'clone', bare, checkout)
  git(checkout, 'checkout', '-b', 'main')
  return {
    url: `file://${bare}`,
    commit(files: Record<string, string>, message: string, branch = 'main'): string {
      git(checkout, 'checkout', '-B', branch)
      for (const [file, content] of Object.entries(files)) writeFileSync(join(checkout, file), content)
      git(checkout, 'add', '-A')
      git(checkout, 'commit', '-m', message)
      git(checkout, 'push', '-f', 'origin', branch)
      return git(checkout, 'rev-parse', 'HEAD')
    },
  }
}

const FINAL = ['running', 'failed', 'cancelled', 'superseded']

async function waitDeployment(id: string, timeoutMs = 60_000): Promise<any> {
  return waitFor(
    `deployment ${id} to finish`,
    async () => {
      const res = await api.http.get(`/deployments/${id}`, { token: admin })
      return FINAL.includes(res.body.deployment?.state) ? res.body.deployment : undefined
    },
    timeoutMs,
    200,
  )
}

async function waitState(id: string, state: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `deployment ${id} to be ${state}`,
    async () => (await api.http.get(`/deployments/${id}`, { token: admin })).body.deployment?.state === state,
    timeoutMs,
    100,
  )
}

async function createApp(body: Record<string, unknown>) {
  const res = await api.http.post('/apps', {
    token: admin,
    body: { server_id: serverId, port: 3000, ...body },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.app
}

async function deploy(appId: string, body?: unknown) {
  const res = await api.http.post(`/apps/${appId}/deploy`, { token: admin, body })
  expect(res.status, res.text).toBe(202)
  return res.body.deployment
}

async function hostPort(appId: string): Promise<number> {
  const res = await api.http.get(`/apps/${appId}`, { token: admin })
  expect(res.body.app.host_port).toEqual(expect.any(Number))
  return res.body.app.host_port
}

async function fetchApp(port: number, path = '/'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  if (res.status !== 200) throw new Error(`status ${res.status}`)
  return res.text()
}

/** Containers and images on the host that belong to a deployment, as `docker` sees them. */
const containersOf = (deploymentId: string) =>
  docker('ps', '-aq', '--filter', `label=berth.deployment=${deploymentId}`).split('\n').filter(Boolean)
const imageExists = (tag: string) => docker('images', '-q', tag) !== ''

beforeAll(async () => {
  work = mkdtempSync(join(os.tmpdir(), 'berth-apps-'))
  api = await startApi({ env: { BERTH_MAINTENANCE_MS: '1000' } })
  admin = await registerAdmin(api.http)
  ;({ serverId, stateDir, agent } = await startServerWithAgent(api, admin, 'app-host'))
})

afterAll(async () => {
  const apps = (await api.http.get('/apps?limit=200', { token: admin })).body.apps ?? []
  for (const app of apps) await api.http.delete(`/apps/${app.id}?volumes=true`, { token: admin })
  await agent?.stop()
  const left = docker('ps', '-aq', '--filter', `label=berth.app.name`).split('\n').filter(Boolean)
  const ours = left.filter((id) =>
    docker('inspect', '-f', '{{index .Config.Labels "berth.app.name"}}', id).startsWith(`t${run}-`),
  )
  if (ours.length) docker('rm', '-f', ...ours)
  const images = docker('images', '--format', '{{.Repository}}:{{.Tag}}')
    .split('\n')
    .filter((i) => i.startsWith(`berth/t${run}-`))
  if (images.length) docker('rmi', '-f', ...images)
  await api?.stop()
  rmSync(work, { recursive: true, force: true })
})

describe('apps', () => {
  test('create, read, update and list an app; bad input is a 400 and writes nothing', async () => {
    const app = await createApp({ name: appName('crud'), source: { type: 'image', image: TEST_IMAGE } })
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

    const patched = await api.http.patch(`/apps/${app.id}`, {
      token: admin,
      body: { instances: 2, auto_deploy: false },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.app).toMatchObject({ instances: 2, auto_deploy: false })
    const list = await api.http.get('/apps', { token: admin })
    expect(list.body.apps.map((a: any) => a.name)).toContain(appName('crud'))
  })

  test('a viewer reads apps but cannot change them, see env values, or deploy; file:// is for admins', async () => {
    const app = await createApp({
      name: appName('roles'),
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
    const fileUrl = await api.http.post('/apps', {
      token: member.token,
      body: { name: appName('file'), server_id: serverId, source: { type: 'git', url: 'file:///etc' } },
    })
    expect(fileUrl.status).toBe(403)
  })

  test('env values are stored encrypted, never in clear, and set/delete merge', async () => {
    const app = await createApp({
      name: appName('env'),
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
    const app = await createApp({ name: appName('key'), source: { type: 'upload' } })
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
})

describe('deployments', () => {
  let repo: ReturnType<typeof repository>
  let app: any
  let v1: any

  beforeAll(() => {
    repo = repository('web')
  })

  test('a git app builds on the host, runs, answers on its port, and sees its env', async () => {
    const sha = repo.commit(
      { Dockerfile: dockerfile(`RUN echo "building with ${SECRET}"`), 'index.html': 'version one\n' },
      'first version',
    )
    app = await createApp({
      name: appName('web'),
      source: { type: 'git', url: repo.url, branch: 'main' },
      env: { APP_SECRET: SECRET },
      volumes: [{ name: 'data', target: '/data' }],
    })
    const queued = await deploy(app.id)
    expect(queued).toMatchObject({ app_id: app.id, trigger: 'manual' })
    expect(['queued', 'cloning', 'building']).toContain(queued.state)
    // Live: the build's output streams while it runs.
    const live = await openSse(`${api.url}/api/v1/deployments/${queued.id}/logs?follow=true`, admin)
    v1 = await waitDeployment(queued.id)
    expect(v1.state, v1.reason).toBe('running')
    expect(v1.commit).toEqual({ sha, message: 'first version' })
    expect(v1.image).toBe(`berth/${appName('web')}:${queued.id}`)
    await waitFor('the live log to end', () => live.events.some((e) => e.event === 'end'))
    live.close()
    const states = live.events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data).state)
    expect(states.at(-1)).toBe('running')
    expect(states).toContain('building')

    const port = await hostPort(app.id)
    expect(await fetchApp(port)).toBe('version one\n')
    const env = await fetchApp(port, '/env.txt')
    expect(env).toContain(`APP_SECRET=${SECRET}`)
    expect(env).toContain(`BERTH_APP_ID=${app.id}`)
    expect(env).toContain(`BERTH_APP_NAME=${appName('web')}`)
    expect(env).toContain(`BERTH_DEPLOYMENT_ID=${queued.id}`)
    expect(env).toContain('PORT=3000')
    expect(env).toContain('BERTH_PERSISTENT_DIR=/data')

    // After the fact: the same lines, the secret masked in them, and in what was streamed.
    const stored = await api.http.get(`/deployments/${queued.id}/logs`, { token: admin })
    const text = stored.body.lines.map((l: any) => l.text).join('\n')
    expect(text).toContain('building with')
    expect(text).not.toContain(SECRET)
    expect(live.events.map((e) => e.data).join('\n')).not.toContain(SECRET)
    const seqs = stored.body.lines.map((l: any) => l.seq)
    expect(seqs).toEqual([...seqs.keys()])
    expect(live.events.filter((e) => e.event === 'log').map((e) => Number(e.id))).toEqual(seqs)

    // No secret on the image either: it is not in its history or config.
    expect(docker('history', '--no-trunc', v1.image)).not.toContain(`APP_SECRET=${SECRET}`)
    expect(docker('inspect', v1.image)).not.toContain(SECRET)
  })

  test('a log stream resuming with Last-Event-ID misses and repeats nothing', async () => {
    const all = (await api.http.get(`/deployments/${v1.id}/logs`, { token: admin })).body.lines
    expect(all.length).toBeGreaterThan(4)
    const cut = all[2].seq
    const res = await fetch(`${api.url}/api/v1/deployments/${v1.id}/logs`, {
      headers: {
        Authorization: `Bearer ${admin}`,
        Accept: 'text/event-stream',
        'Last-Event-ID': String(cut),
      },
    })
    const text = await res.text()
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
    expect(ids).toEqual(all.filter((l: any) => l.seq > cut).map((l: any) => l.seq))
  })

  test('a redeploy rolls out without a failed request, and the old version is superseded', async () => {
    const port = await hostPort(app.id)
    // Something the app wrote to its persistent volume carries over to the new version.
    docker('exec', containersOf(v1.id)[0]!, 'sh', '-c', 'echo kept > /data/note')
    repo.commit({ 'index.html': 'version two\n' }, 'second version')
    let requests = 0
    const failures: string[] = []
    let polling = true
    const poller = (async () => {
      while (polling) {
        try {
          const body = await fetchApp(port)
          if (body !== 'version one\n' && body !== 'version two\n') failures.push(`unexpected ${body}`)
        } catch (err) {
          failures.push(String(err))
        }
        requests++
      }
    })()
    const next = await deploy(app.id)
    const done = await waitDeployment(next.id)
    await new Promise((r) => setTimeout(r, 300))
    polling = false
    await poller
    expect(done.state, done.reason).toBe('running')
    expect(failures).toEqual([])
    expect(requests).toBeGreaterThan(20)
    expect(await fetchApp(port)).toBe('version two\n')
    expect((await api.http.get(`/deployments/${v1.id}`, { token: admin })).body.deployment.state).toBe(
      'superseded',
    )
    expect(containersOf(v1.id)).toEqual([])
    expect(containersOf(next.id)).toHaveLength(1)
    expect(docker('exec', containersOf(next.id)[0]!, 'cat', '/data/note')).toBe('kept')
    expect((await api.http.get(`/apps/${app.id}`, { token: admin })).body.app.current_deployment_id).toBe(
      next.id,
    )
  })

  test('a version that never gets healthy fails, and the old one keeps answering', async () => {
    await api.http.patch(`/apps/${app.id}`, {
      token: admin,
      body: {
        health_check: { path: '/', interval: 0.3, timeout: 1, unhealthy_threshold: 3, start_period: 0.5 },
      },
    })
    repo.commit({ Dockerfile: `FROM ${TEST_IMAGE}\nCMD ["sleep", "3600"]` }, 'broken version')
    const broken = await deploy(app.id)
    const done = await waitDeployment(broken.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/health/i)
    expect(await fetchApp(await hostPort(app.id))).toBe('version two\n')
    expect(containersOf(broken.id)).toEqual([])
    repo.commit({ Dockerfile: dockerfile() }, 'fixed version')
  })

  test('rollback runs the previous image again without building', async () => {
    const before = (await api.http.get(`/apps/${app.id}`, { token: admin })).body.app.current_deployment_id
    const res = await api.http.post(`/apps/${app.id}/rollback`, { token: admin })
    expect(res.status, res.text).toBe(202)
    expect(res.body.deployment).toMatchObject({ trigger: 'rollback', rollback_of: v1.id })
    const done = await waitDeployment(res.body.deployment.id)
    expect(done.state, done.reason).toBe('running')
    expect(done.image).toBe(v1.image)
    expect(await fetchApp(await hostPort(app.id))).toBe('version one\n')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.text).join('\n')).not.toMatch(/Step \d/)
    expect((await api.http.get(`/deployments/${before}`, { token: admin })).body.deployment.state).toBe(
      'superseded',
    )
    const named = await api.http.post(`/apps/${app.id}/rollback`, {
      token: admin,
      body: { deployment_id: 'dep_00000000000000000000000000' },
    })
    expect(named.status).toBe(404)
  })

  test('cancel during a build stops it and leaves nothing behind', async () => {
    repo.commit({ Dockerfile: dockerfile('RUN sleep 60') }, 'slow build')
    const slow = await deploy(app.id)
    await waitState(slow.id, 'building')
    await new Promise((r) => setTimeout(r, 1000))
    const res = await api.http.post(`/deployments/${slow.id}/cancel`, { token: admin })
    expect(res.status, res.text).toBe(202)
    const done = await waitDeployment(slow.id)
    expect(done.state).toBe('cancelled')
    expect(containersOf(slow.id)).toEqual([])
    expect(imageExists(`berth/${appName('web')}:${slow.id}`)).toBe(false)
    expect(await fetchApp(await hostPort(app.id))).toBe('version one\n')
    const again = await api.http.post(`/deployments/${slow.id}/cancel`, { token: admin })
    expect(again.status).toBe(422)
    expect(again.body.error).toBe('state_error')
  })

  test('a build past its deadline fails with the reason and leaves nothing behind', async () => {
    await api.http.patch(`/apps/${app.id}`, { token: admin, body: { deadlines: { build: 2 } } })
    const slow = await deploy(app.id)
    const done = await waitDeployment(slow.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/longer than 2 s/)
    expect(containersOf(slow.id)).toEqual([])
    expect(imageExists(`berth/${appName('web')}:${slow.id}`)).toBe(false)
    await api.http.patch(`/apps/${app.id}`, { token: admin, body: { deadlines: { build: 1800 } } })
    repo.commit({ Dockerfile: dockerfile() }, 'fast build again')
  })

  test('deploys of one app run one at a time; later ones queue', async () => {
    const a = await deploy(app.id)
    const b = await deploy(app.id)
    expect(b.state).toBe('queued')
    await waitDeployment(a.id)
    const second = await waitDeployment(b.id)
    const first = (await api.http.get(`/deployments/${a.id}`, { token: admin })).body.deployment
    expect(first.state).toBe('superseded')
    expect(second.state).toBe('running')
    expect(Date.parse(second.started_at)).toBeGreaterThanOrEqual(Date.parse(first.finished_at))
  })

  test("a build runs under its server's caps when the app sets none", async () => {
    const patched = await api.http.patch(`/servers/${serverId}`, {
      token: admin,
      body: { build_resources: { cpus: 0.5, memory: '96m' } },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.server.build_resources).toEqual({ cpus: 0.5, memory: 96 * 1024 * 1024 })
    repo.commit(
      {
        Dockerfile: dockerfile(
          'RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
        ),
      },
      'capped build',
    )
    const done = await waitDeployment((await deploy(app.id)).id)
    await api.http.patch(`/servers/${serverId}`, { token: admin, body: { build_resources: {} } })
    expect(done.state, done.reason).toBe('running')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    const texts = lines.map((l: any) => l.text.trim())
    expect(texts).toContain(String(96 * 1024 * 1024))
    expect(texts).toContain('50000')
    repo.commit({ Dockerfile: dockerfile() }, 'uncapped')
  })

  test('a deploy queued while the agent is offline runs when it comes back', async () => {
    await agent.stop()
    await waitForServerStatus(api.http, admin, serverId, 'offline')
    repo.commit({ 'index.html': 'version three\n' }, 'third version')
    const queued = await deploy(app.id)
    expect(queued.state).toBe('queued')
    await new Promise((r) => setTimeout(r, 500))
    expect((await api.http.get(`/deployments/${queued.id}`, { token: admin })).body.deployment.state).toBe(
      'queued',
    )
    // An upload cannot wait: its tarball has nowhere to go while the server is offline.
    const upload = await createApp({ name: appName('offline'), source: { type: 'upload' } })
    const tarball = await fetch(`${api.url}/api/v1/apps/${upload.id}/deploy`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/gzip' },
      body: new Uint8Array(64),
    })
    expect(tarball.status).toBe(503)
    expect((await tarball.json()).error).toBe('agent_offline')
    expect((await api.http.get(`/apps/${upload.id}/deployments`, { token: admin })).body.deployments).toEqual(
      [],
    )
    // Deleting needs the agent, to take the app off its server, unless forced.
    expect((await api.http.delete(`/apps/${upload.id}`, { token: admin })).status).toBe(503)
    expect((await api.http.get(`/apps/${upload.id}`, { token: admin })).status).toBe(200)
    expect((await api.http.delete(`/apps/${upload.id}?force=true`, { token: admin })).status).toBe(204)
    expect((await api.http.get(`/apps/${upload.id}`, { token: admin })).status).toBe(404)
    agent = startAgentProcess({ api: api.url, stateDir })
    await waitForServerStatus(api.http, admin, serverId, 'online')
    const done = await waitDeployment(queued.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('version three\n')
  })

  test('the API killed mid-build: the agent carries on and reports the outcome after the restart', async () => {
    repo.commit({ Dockerfile: dockerfile('RUN sleep 3'), 'index.html': 'version four\n' }, 'fourth version')
    const dep = await deploy(app.id)
    await waitState(dep.id, 'building')
    await api.kill()
    await new Promise((r) => setTimeout(r, 4000))
    await api.restart()
    const done = await waitDeployment(dep.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('version four\n')
    const lines = (await api.http.get(`/deployments/${dep.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.seq)).toEqual([...lines.keys()])
  })

  test('the agent killed mid-build: the deployment fails with the reason once it is back, nothing is left', async () => {
    repo.commit({ Dockerfile: dockerfile('RUN sleep 60') }, 'slow again')
    const dep = await deploy(app.id)
    await waitState(dep.id, 'building')
    await agent.stop('SIGKILL')
    agent = startAgentProcess({ api: api.url, stateDir })
    const done = await waitDeployment(dep.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/agent/)
    expect(containersOf(dep.id)).toEqual([])
    expect(imageExists(`berth/${appName('web')}:${dep.id}`)).toBe(false)
    expect(await fetchApp(await hostPort(app.id))).toBe('version four\n')
    repo.commit({ Dockerfile: dockerfile() }, 'fast build')
  })

  test('webhooks: signed pushes to the branch deploy once; bad signatures, other branches and repeats do not', async () => {
    const hook = await api.http.post(`/apps/${app.id}/webhooks`, {
      token: admin,
      body: { provider: 'github' },
    })
    expect(hook.status, hook.text).toBe(201)
    const { secret, url, id: hookId } = hook.body.webhook
    expect(url).toBe(`${api.url}/api/v1/webhooks/github/${app.id}`)
    expect(
      (await api.http.get(`/apps/${app.id}/webhooks/${hookId}`, { token: admin })).body.webhook.secret,
    ).toBe(undefined)
    const sha = repo.commit({ 'index.html': 'version five\n' }, 'pushed version')
    const count = async () =>
      (await api.sql<{ n: number }>('select count(*) as n from deployments where app_id = ?', [app.id]))[0]!.n
    const send = (body: object, headers: Record<string, string>, provider = 'github') =>
      fetch(`${api.url}/api/v1/webhooks/${provider}/${app.id}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })
    const sign = (body: object, key = secret) =>
      `sha256=${createHmac('sha256', key).update(JSON.stringify(body)).digest('hex')}`

    const ping = { zen: 'hi' }
    const pong = await send(ping, {
      'X-GitHub-Event': 'ping',
      'X-GitHub-Delivery': 'd-ping',
      'X-Hub-Signature-256': sign(ping),
    })
    expect(pong.status).toBe(200)
    expect((await pong.json()).status).toBe('pong')

    const before = await count()
    const garbled = await fetch(`${api.url}/api/v1/webhooks/github/${app.id}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': 'd-0',
        'X-Hub-Signature-256': `sha256=${createHmac('sha256', secret).update('not json').digest('hex')}`,
      },
      body: 'not json',
    })
    expect(garbled.status).toBe(400)
    expect((await garbled.json()).error).toBe('validation_error')
    const push = { ref: 'refs/heads/main', after: sha }
    const forged = await send(push, {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-1',
      'X-Hub-Signature-256': sign(push, 'wrong secret'),
    })
    expect(forged.status).toBe(401)
    expect((await forged.json()).error).toBe('auth_error')
    expect(await count()).toBe(before)

    const other = { ref: 'refs/heads/feature', after: sha }
    const skipped = await send(other, {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-2',
      'X-Hub-Signature-256': sign(other),
    })
    expect((await skipped.json()).status).toBe('skipped')
    expect(await count()).toBe(before)

    const headers = {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-3',
      'X-Hub-Signature-256': sign(push),
    }
    const [first, repeat] = await Promise.all([send(push, headers), send(push, headers)])
    const outcomes = [await first.json(), await repeat.json()]
    const deployed = outcomes.find((o) => o.status === 'success')
    expect(deployed?.deployment_id).toMatch(/^dep_/)
    expect(await count()).toBe(before + 1)
    const done = await waitDeployment(deployed.deployment_id)
    expect(done.state, done.reason).toBe('running')
    expect(done.trigger).toBe('webhook')
    expect(done.commit.sha).toBe(sha)
    expect(await fetchApp(await hostPort(app.id))).toBe('version five\n')

    const deliveries = (await api.http.get(`/apps/${app.id}/webhooks/${hookId}/deliveries`, { token: admin }))
      .body.deliveries
    expect(deliveries.map((d: any) => [d.delivery_id, d.status])).toEqual([
      ['d-3', 'success'],
      ['d-2', 'skipped'],
    ])

    // GitLab: a shared token; Gitea: an HMAC without prefix.
    const gitlab = (
      await api.http.post(`/apps/${app.id}/webhooks`, { token: admin, body: { provider: 'gitlab' } })
    ).body.webhook
    const bad = await send(push, { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'nope' }, 'gitlab')
    expect(bad.status).toBe(401)
    const wrongBranch = await send(
      other,
      { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': gitlab.secret, 'X-Gitlab-Event-UUID': 'g-1' },
      'gitlab',
    )
    expect((await wrongBranch.json()).status).toBe('skipped')
    const gitea = (
      await api.http.post(`/apps/${app.id}/webhooks`, { token: admin, body: { provider: 'gitea' } })
    ).body.webhook
    const giteaSig = createHmac('sha256', gitea.secret).update(JSON.stringify(other)).digest('hex')
    const giteaSkip = await send(
      other,
      { 'X-Gitea-Event': 'push', 'X-Gitea-Delivery': 'e-1', 'X-Gitea-Signature': giteaSig },
      'gitea',
    )
    expect((await giteaSkip.json()).status).toBe('skipped')
    const giteaBad = await send(
      other,
      { 'X-Gitea-Event': 'push', 'X-Gitea-Delivery': 'e-2', 'X-Gitea-Signature': 'ab'.repeat(32) },
      'gitea',
    )
    expect(giteaBad.status).toBe(401)
    expect(await count()).toBe(before + 1)

    // A GitLab push to the branch deploys, once for its delivery id; a Gitea push likewise.
    const pushed = repo.commit({ 'index.html': 'version six\n' }, 'pushed through gitlab')
    const gitlabPush = { ref: 'refs/heads/main', checkout_sha: pushed }
    const gitlabHeaders = {
      'X-Gitlab-Event': 'Push Hook',
      'X-Gitlab-Token': gitlab.secret,
      'X-Gitlab-Event-UUID': 'g-2',
    }
    const viaGitlab = await (await send(gitlabPush, gitlabHeaders, 'gitlab')).json()
    expect(viaGitlab.status).toBe('success')
    expect((await (await send(gitlabPush, gitlabHeaders, 'gitlab')).json()).deployment_id).toBe(
      viaGitlab.deployment_id,
    )
    const fromGitlab = await waitDeployment(viaGitlab.deployment_id)
    expect(fromGitlab.commit?.sha).toBe(pushed)
    expect(await count()).toBe(before + 2)

    const giteaPush = {
      ref: 'refs/heads/main',
      after: repo.commit({ 'index.html': 'version seven\n' }, 'via gitea'),
    }
    const giteaHeaders = {
      'X-Gitea-Event': 'push',
      'X-Gitea-Delivery': 'e-3',
      'X-Gitea-Signature': createHmac('sha256', gitea.secret).update(JSON.stringify(giteaPush)).digest('hex'),
    }
    const viaGitea = await (await send(giteaPush, giteaHeaders, 'gitea')).json()
    expect(viaGitea.status).toBe('success')
    await send(giteaPush, giteaHeaders, 'gitea')
    const fromGitea = await waitDeployment(viaGitea.deployment_id)
    expect(fromGitea.state, fromGitea.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('version seven\n')
    expect(await count()).toBe(before + 3)
  })
})

describe('deploys over ssh with the deploy key', () => {
  let sshd: ReturnType<typeof spawn> | undefined
  afterAll(() => {
    sshd?.kill('SIGKILL')
  })

  test('an ssh repository clones with the app key once the key is authorized, and not before', async () => {
    // A real sshd on loopback that admits only the keys in its authorized_keys file.
    const dir = join(work, 'sshd')
    mkdirSync(dir)
    mkdirSync('/run/sshd', { recursive: true })
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
    writeFileSync(join(dir, 'authorized_keys'), '')
    const port = await freePort()
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'StrictModes no',
        'UsePAM no',
        `PidFile ${join(dir, 'sshd.pid')}`,
      ].join('\n'),
    )
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' })
    await waitFor(
      'sshd to listen',
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy()
            resolve(true)
          })
          socket.on('error', () => resolve(false))
        }),
    )
    const repo = repository('private')
    repo.commit({ Dockerfile: dockerfile(), 'index.html': 'cloned over ssh\n' }, 'private app')
    const user = os.userInfo().username
    const app = await createApp({
      name: appName('ssh'),
      source: {
        type: 'git',
        url: `ssh://${user}@127.0.0.1:${port}${repo.url.slice('file://'.length)}`,
        branch: 'main',
      },
    })
    const key = (await api.http.post(`/apps/${app.id}/deploy-key`, { token: admin })).body.deploy_key
      .public_key

    const refused = await waitDeployment((await deploy(app.id)).id)
    expect(refused.state).toBe('failed')
    expect(refused.reason).toMatch(/clone|git|denied/i)

    writeFileSync(join(dir, 'authorized_keys'), `${key}\n`)
    const done = await waitDeployment((await deploy(app.id)).id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('cloned over ssh\n')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.text).join('\n')).not.toContain('PRIVATE KEY')
  })
})

describe('image and upload apps', () => {
  test('an image app runs the image and answers on its port', async () => {
    const image = `berth/t${run}-base:latest`
    const dir = join(work, 'image-app')
    mkdirSync(dir)
    writeFileSync(join(dir, 'Dockerfile'), dockerfile())
    writeFileSync(join(dir, 'index.html'), 'from an image\n')
    docker('build', '-q', '-t', image, dir)
    const app = await createApp({
      name: appName('img'),
      source: { type: 'image', image },
      health_check: { path: '/', interval: 0.3, timeout: 1, unhealthy_threshold: 2, start_period: 0.5 },
    })
    const dep = await deploy(app.id)
    const done = await waitDeployment(dep.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('from an image\n')

    // Probes are stored; a container that stops passing them is restarted, and why is recorded.
    const healthy = await waitFor('probe results', async () => {
      const res = await api.http.get(`/apps/${app.id}/health`, { token: admin })
      return res.body.health.results.length > 0 ? res.body.health : undefined
    })
    expect(healthy.status).toBe('healthy')
    expect(healthy.results[0]).toMatchObject({ ok: true, error: null })
    const [container] = containersOf(dep.id)
    const startedAt = docker('inspect', '-f', '{{.State.StartedAt}}', container!)
    docker('exec', container!, 'rm', '/www/index.html')
    const restarted = await waitFor(
      'a self-healing restart',
      async () => {
        const res = await api.http.get(`/apps/${app.id}/health`, { token: admin })
        const { restarts, results } = res.body.health
        return restarts.length > 0 && results.some((r: any) => !r.ok) ? res.body.health : undefined
      },
      20_000,
    )
    expect(restarted.restarts[0].reason).toMatch(/404|health/i)
    expect(restarted.results.some((r: any) => !r.ok)).toBe(true)
    expect(docker('inspect', '-f', '{{.State.StartedAt}}', container!)).not.toBe(startedAt)

    // Its containers' stats, as the agent samples them.
    const stats = await waitFor('the app in its stats', async () => {
      const res = await api.http.get(`/apps/${app.id}/stats`, { token: admin })
      return res.body.stats.length > 0 ? res.body.stats : undefined
    })
    expect(stats[0]).toMatchObject({ deployment_id: dep.id, samples: expect.any(Array) })
    expect(stats[0].docker_id.startsWith(container)).toBe(true)

    // Deleting the app takes it off its server: no container, nothing on its port.
    const port = await hostPort(app.id)
    expect((await api.http.delete(`/apps/${app.id}`, { token: admin })).status).toBe(204)
    expect(containersOf(dep.id)).toEqual([])
    await expect(fetchApp(port)).rejects.toThrow()
    expect((await api.http.get(`/apps/${app.id}`, { token: admin })).status).toBe(404)
  })

  test('an upload app builds from a captain-definition tarball', async () => {
    const dir = join(work, 'upload-app')
    mkdirSync(join(dir, 'docker'), { recursive: true })
    writeFileSync(
      join(dir, 'captain-definition'),
      JSON.stringify({ schemaVersion: 2, dockerfilePath: './docker/Dockerfile' }),
    )
    writeFileSync(join(dir, 'docker', 'Dockerfile'), dockerfile())
    writeFileSync(join(dir, 'index.html'), 'from an upload\n')
    const tarball = join(work, 'upload.tar.gz')
    execFileSync('tar', ['-czf', tarball, '-C', dir, '.'])
    const app = await createApp({ name: appName('upl'), source: { type: 'upload' } })

    const noFile = await api.http.post(`/apps/${app.id}/deploy`, { token: admin })
    expect(noFile.status).toBe(400)

    const form = new FormData()
    form.set('file', new Blob([readFileSync(tarball)], { type: 'application/gzip' }), 'app.tar.gz')
    const res = await fetch(`${api.url}/api/v1/apps/${app.id}/deploy`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}` },
      body: form,
    })
    const body = await res.json()
    expect(res.status, JSON.stringify(body)).toBe(202)
    const done = await waitDeployment(body.deployment.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await hostPort(app.id))).toBe('from an upload\n')

    // A tarball with an entry outside the context is refused whole.
    const evil = join(work, 'evil')
    mkdirSync(evil)
    writeFileSync(join(evil, 'Dockerfile'), dockerfile())
    const evilTar = join(work, 'evil.tar.gz')
    execFileSync('tar', ['-czf', evilTar, '-C', evil, '-P', '--transform', 's,^,../,', 'Dockerfile'])
    const refused = await fetch(`${api.url}/api/v1/apps/${app.id}/deploy`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/gzip' },
      body: readFileSync(evilTar),
    })
    const refusedBody = await refused.json()
    expect(refused.status).toBe(202)
    const failed = await waitDeployment(refusedBody.deployment.id)
    expect(failed.state).toBe('failed')
    expect(failed.reason).toMatch(/\.\./)
    expect(await fetchApp(await hostPort(app.id))).toBe('from an upload\n')
  })

  test('an upload over the limit is a 413 and nothing is queued', async () => {
    const app = await createApp({ name: appName('big'), source: { type: 'upload' } })
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
