import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { appHost, containersOf, dockerfile, fetchApp, repository } from './support/apps.ts'
import { docker } from './support/docker.ts'
import { freePort, waitFor } from './support/process.ts'

// Apps from other sources than a public git branch: a private repository over ssh, an image, an upload.

const host = appHost()

let baseImage: string | undefined
/** An image app, running: its image is busybox httpd serving "from an image", built once per file. */
async function runningImageApp(name: string) {
  if (!baseImage) {
    const image = `berth/${host.appName('base')}:latest`
    const dir = join(host.work, 'image-app')
    mkdirSync(dir)
    writeFileSync(join(dir, 'Dockerfile'), dockerfile())
    writeFileSync(join(dir, 'index.html'), 'from an image\n')
    docker('build', '-q', '-t', image, dir)
    baseImage = image
  }
  const app = await host.createApp({
    name: host.appName(name),
    source: { type: 'image', image: baseImage },
    health_check: { path: '/', interval: 0.3, timeout: 1, unhealthy_threshold: 2, start_period: 0.5 },
  })
  const deployment = await host.waitDeployment((await host.deploy(app.id)).id)
  expect(deployment.state, deployment.reason).toBe('running')
  return { app, deployment }
}

describe('deploys over ssh with the deploy key', () => {
  let sshd: ReturnType<typeof spawn> | undefined
  afterAll(() => {
    sshd?.kill('SIGKILL')
  })

  test('an ssh repository clones with the app key once the key is authorized, and not before', async () => {
    const { api, admin, work } = host
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
    const repo = repository(work, 'private')
    repo.commit({ Dockerfile: dockerfile(), 'index.html': 'cloned over ssh\n' }, 'private app')
    const user = os.userInfo().username
    const app = await host.createApp({
      name: host.appName('ssh'),
      source: {
        type: 'git',
        url: `ssh://${user}@127.0.0.1:${port}${repo.url.slice('file://'.length)}`,
        branch: 'main',
      },
    })
    const key = (await api.http.post(`/apps/${app.id}/deploy-key`, { token: admin })).body.deploy_key
      .public_key

    const refused = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(refused.state).toBe('failed')
    expect(refused.reason).toMatch(/clone|git|denied/i)

    writeFileSync(join(dir, 'authorized_keys'), `${key}\n`)
    const done = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('cloned over ssh\n')
    const lines = (await api.http.get(`/deployments/${done.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.text).join('\n')).not.toContain('PRIVATE KEY')
  })
})

describe('image and upload apps', () => {
  test('an image app runs the image and answers on its port', async () => {
    const { app } = await runningImageApp('img')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('from an image\n')
  })

  test('a container that stops passing its probes is restarted, and why is recorded', async () => {
    const { api, admin } = host
    const { app, deployment } = await runningImageApp('heal')
    // Probes are stored; a container that stops passing them is restarted, and why is recorded.
    const healthy = await waitFor('probe results', async () => {
      const res = await api.http.get(`/apps/${app.id}/health`, { token: admin })
      return res.body.health.results.length > 0 ? res.body.health : undefined
    })
    expect(healthy.status).toBe('healthy')
    expect(healthy.results[0]).toMatchObject({ ok: true, error: null })
    const [container] = containersOf(deployment.id)
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
  })

  test("an app's containers show in its stats, as the agent samples them", async () => {
    const { app, deployment } = await runningImageApp('stats')
    const [container] = containersOf(deployment.id)
    const stats = await waitFor('the app in its stats', async () => {
      const res = await host.api.http.get(`/apps/${app.id}/stats`, { token: host.admin })
      return res.body.stats.length > 0 ? res.body.stats : undefined
    })
    expect(stats[0]).toMatchObject({ deployment_id: deployment.id, samples: expect.any(Array) })
    expect(stats[0].docker_id.startsWith(container)).toBe(true)
  })

  test('deleting an app takes it off its server: no container, nothing on its port', async () => {
    const { api, admin } = host
    const { app, deployment } = await runningImageApp('delete')
    const port = await host.hostPort(app.id)
    expect((await api.http.delete(`/apps/${app.id}`, { token: admin })).status).toBe(204)
    expect(containersOf(deployment.id)).toEqual([])
    await expect(fetchApp(port)).rejects.toThrow()
    expect((await api.http.get(`/apps/${app.id}`, { token: admin })).status).toBe(404)
  })

  test('an upload app builds from a captain-definition tarball', async () => {
    const { api, admin, work } = host
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
    const app = await host.createApp({ name: host.appName('upl'), source: { type: 'upload' } })

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
    const done = await host.waitDeployment(body.deployment.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('from an upload\n')

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
    const failed = await host.waitDeployment(refusedBody.deployment.id)
    expect(failed.state).toBe('failed')
    expect(failed.reason).toMatch(/\.\./)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('from an upload\n')
  })
})
