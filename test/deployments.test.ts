import { randomUUID } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { appHost, containersOf, dockerfile, fetchApp } from './support/apps.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'

// Deployments of git apps: build, run, roll out, roll back, queue. Each test deploys its own app.

const host = appHost()
const SECRET = `s3cr3t-${Math.random().toString(36).slice(2, 7)}-value`

describe('deployments', () => {
  test('a git app builds on the host, runs and answers on its port with its env', async () => {
    const { api, admin, appName } = host
    const { app, sha } = await host.gitApp({
      name: 'web',
      files: { Dockerfile: dockerfile(`RUN echo "building with ${SECRET}"`), 'index.html': 'version one\n' },
      body: { env: { APP_SECRET: SECRET }, volumes: [{ name: 'data', target: '/data' }] },
    })
    const queued = await host.deploy(app.id)
    expect(queued).toMatchObject({ app_id: app.id, trigger: 'manual' })
    expect(['queued', 'cloning', 'building']).toContain(queued.state)
    // Live: the build's output streams while it runs.
    const live = await openSse(`${api.url}/api/v1/deployments/${queued.id}/logs?follow=true`, admin)
    const v1 = await host.waitDeployment(queued.id)
    expect(v1.state, v1.reason).toBe('running')
    expect(v1.commit).toEqual({ sha, message: 'first version' })
    expect(v1.image).toBe(`berth/${appName('web')}:${queued.id}`)
    await waitFor('the live log to end', () => live.events.some((e) => e.event === 'end'))
    live.close()
    const states = live.events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data).state)
    expect(states.at(-1)).toBe('running')
    expect(states).toContain('building')

    const port = await host.hostPort(app.id)
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
    const { api, admin } = host
    const { deployment } = await host.deployedApp({ name: 'resume' })
    const all = (await api.http.get(`/deployments/${deployment.id}/logs`, { token: admin })).body.lines
    expect(all.length).toBeGreaterThan(4)
    const cut = all[2].seq
    const res = await fetch(`${api.url}/api/v1/deployments/${deployment.id}/logs`, {
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

  test('a redeploy rolls out without a failed request', async () => {
    const { api, admin } = host
    const {
      app,
      repo,
      deployment: v1,
    } = await host.deployedApp({
      name: 'rollout',
      body: { volumes: [{ name: 'data', target: '/data' }] },
    })
    const port = await host.hostPort(app.id)
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
    const next = await host.deploy(app.id)
    const done = await host.waitDeployment(next.id)
    // The new version keeps answering for a while after the rollout, not only at its end.
    const atDone = requests
    await waitFor('requests after the rollout', () => requests > atDone + 20)
    polling = false
    await poller
    expect(done.state, done.reason).toBe('running')
    expect(failures).toEqual([])
    expect(requests).toBeGreaterThan(20)
    expect(await fetchApp(port)).toBe('version two\n')
    expect(containersOf(next.id)).toHaveLength(1)
    expect(docker('exec', containersOf(next.id)[0]!, 'cat', '/data/note')).toBe('kept')
    expect((await api.http.get(`/apps/${app.id}`, { token: admin })).body.app.current_deployment_id).toBe(
      next.id,
    )
  })

  test('a redeploy supersedes the old version and removes its container', async () => {
    const { api, admin } = host
    const { app, repo, deployment: v1 } = await host.deployedApp({ name: 'supersede' })
    repo.commit({ 'index.html': 'version two\n' }, 'second version')
    const done = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(done.state, done.reason).toBe('running')
    expect((await api.http.get(`/deployments/${v1.id}`, { token: admin })).body.deployment.state).toBe(
      'superseded',
    )
    expect(containersOf(v1.id)).toEqual([])
  })

  test('a version that never gets healthy fails, and the old one keeps answering', async () => {
    const { api, admin } = host
    const { app, repo } = await host.deployedApp({ name: 'unhealthy' })
    await api.http.patch(`/apps/${app.id}`, {
      token: admin,
      body: {
        health_check: { path: '/', interval: 0.3, timeout: 1, unhealthy_threshold: 3, start_period: 0.5 },
      },
    })
    repo.commit({ Dockerfile: `FROM ${TEST_IMAGE}\nCMD ["sleep", "3600"]` }, 'broken version')
    const broken = await host.deploy(app.id)
    const done = await host.waitDeployment(broken.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/health/i)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version one\n')
    expect(containersOf(broken.id)).toEqual([])
  })

  test('rollback runs the previous image again without building', async () => {
    const { api, admin } = host
    const { app, repo, deployment: v1 } = await host.deployedApp({ name: 'rollback' })
    repo.commit({ 'index.html': 'version two\n' }, 'second version')
    const v2 = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(v2.state, v2.reason).toBe('running')
    const res = await api.http.post(`/apps/${app.id}/rollback`, { token: admin })
    expect(res.status, res.text).toBe(202)
    expect(res.body.deployment).toMatchObject({ trigger: 'rollback', rollback_of: v1.id })
    const done = await host.waitDeployment(res.body.deployment.id)
    expect(done.state, done.reason).toBe('running')
    expect(done.image).toBe(v1.image)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version one\n')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.text).join('\n')).not.toMatch(/Step \d/)
    expect((await api.http.get(`/deployments/${v2.id}`, { token: admin })).body.deployment.state).toBe(
      'superseded',
    )
  })

  test('a rollback to a deployment that does not exist is a 404', async () => {
    const { app } = await host.deployedApp({ name: 'rollback-none' })
    const named = await host.api.http.post(`/apps/${app.id}/rollback`, {
      token: host.admin,
      body: { deployment_id: 'dep_00000000000000000000000000' },
    })
    expect(named.status).toBe(404)
  })

  test('deploys of one app run one at a time; later ones queue', async () => {
    const { api, admin } = host
    const { app } = await host.deployedApp({ name: 'queue' })
    const a = await host.deploy(app.id)
    const b = await host.deploy(app.id)
    expect(b.state).toBe('queued')
    await host.waitDeployment(a.id)
    const second = await host.waitDeployment(b.id)
    const first = (await api.http.get(`/deployments/${a.id}`, { token: admin })).body.deployment
    expect(first.state).toBe('superseded')
    expect(second.state).toBe('running')
    expect(Date.parse(second.started_at)).toBeGreaterThanOrEqual(Date.parse(first.finished_at))
  })

  test("a build runs under its server's caps when the app sets none", async () => {
    const { api, admin, serverId } = host
    const { app } = await host.gitApp({
      name: 'capped',
      files: {
        Dockerfile: dockerfile(
          'RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
        ),
        // Content of its own, so Docker's build cache (shared by every run on the host) cannot
        // answer the RUN step from an earlier build, which would print nothing.
        'index.html': `capped ${randomUUID()}\n`,
      },
    })
    const patched = await api.http.patch(`/servers/${serverId}`, {
      token: admin,
      body: { build_resources: { cpus: 0.5, memory: '96m' } },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.server.build_resources).toEqual({ cpus: 0.5, memory: 96 * 1024 * 1024 })
    let done: any
    try {
      done = await host.waitDeployment((await host.deploy(app.id)).id)
    } finally {
      await api.http.patch(`/servers/${serverId}`, { token: admin, body: { build_resources: {} } })
    }
    expect(done.state, done.reason).toBe('running')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    const texts = lines.map((l: any) => l.text.trim())
    expect(texts).toContain(String(96 * 1024 * 1024))
    expect(texts).toContain('50000')
  })
})
