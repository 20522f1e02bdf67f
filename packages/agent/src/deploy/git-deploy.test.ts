import { once } from 'node:events'
import { readdir } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { APP_LABELS } from '@berth/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppBench, GitRepo, get, httpApp, QUICK_CHECK } from '../testing/test-apps.ts'
import { dockerCli, inspectCli } from '../testing/test-docker.ts'

// Git deploys against the real Docker Engine and the system's git, over file:// repositories.
let bench: AppBench
let repo: GitRepo

beforeAll(async () => {
  bench = await AppBench.create()
  repo = await GitRepo.create()
})

afterAll(async () => {
  await bench.cleanUp()
  await repo.remove()
})

const gitSource = (ref = 'main') =>
  ({ type: 'git', url: repo.url, ref, dockerfile: 'Dockerfile', context: '.' }) as const

describe('a git deploy', { timeout: 60_000 }, () => {
  it('clones, builds and runs the app behind its proxy on the host port', async () => {
    const sha = await repo.commit(httpApp('version one'), 'first version')
    const args = bench.args(gitSource(), { run: { env: { GREETING: 'hello' } } })
    const status = await bench.deploy(args)

    expect(status).toMatchObject({
      state: 'running',
      commit: { sha, message: 'first version' },
      image: args.image_tag,
      containers: [expect.any(String)],
    })
    const hostPort = status.host_port ?? 0
    expect(hostPort).toBeGreaterThanOrEqual(args.run.port_range.start)
    expect(hostPort).toBeLessThanOrEqual(args.run.port_range.end)
    expect(await get(hostPort)).toEqual({ status: 200, body: 'version one\n' })

    const container = inspectCli(status.containers?.[0] ?? '')
    expect(container?.Name).toBe(`/berth-${args.app_name}-${args.deployment_id.slice(-8)}-1`)
    expect(container?.Config.Env).toContain('GREETING=hello')
    expect(container?.Config.Labels).toMatchObject({
      [APP_LABELS.app]: args.app_id,
      [APP_LABELS.deployment]: args.deployment_id,
      [APP_LABELS.port]: '3000',
      [APP_LABELS.hostPort]: String(hostPort),
      'berth.managed': 'true',
    })
    expect(container?.HostConfig.RestartPolicy.Name).toBe('unless-stopped')
    expect(container?.HostConfig.PortBindings ?? {}).toEqual({})

    // Every state went out as a job frame, in order; log lines are numbered from 0 without gaps.
    const frames = bench.jobFrames(args.deployment_id)
    const states = frames.map((f) => f.state).filter((s, i, all) => s !== all[i - 1])
    expect(states).toEqual(['cloning', 'building', 'deploying', 'running'])
    const sent = frames.flatMap((f) => (f.data?.logs as { seq: number }[] | undefined) ?? [])
    expect(sent.map((l) => l.seq)).toEqual(sent.map((_, i) => i))
    // deploy.status holds every line sent.
    expect(status.logs?.map((l) => l.seq)).toEqual(sent.map((l) => l.seq))
    expect(status.logs?.some((l) => l.stream === 'stdout' && l.text.startsWith('Step 1/'))).toBe(true)
    // The work folder of the deploy is gone.
    expect(dockerCli('images', '-q', args.image_tag)).not.toBe('')
  })
})

describe('a redeploy', { timeout: 60_000 }, () => {
  it('switches to the new version with no failed request, then removes the old containers', async () => {
    await repo.commit(httpApp('before'))
    const firstArgs = bench.args(gitSource(), { run: { instances: 2 } })
    const first = await bench.deploy(firstArgs)
    expect(first.state).toBe('running')
    const port = first.host_port ?? 0

    const bodies = new Set<string>()
    const failures: string[] = []
    let requests = 0
    let looping = true
    const loop = (async () => {
      while (looping) {
        requests++
        await get(port).then(
          (r) => (r.status === 200 ? bodies.add(r.body) : failures.push(`HTTP ${r.status}`)),
          (err: Error) => failures.push(err.message),
        )
      }
    })()
    await repo.commit(httpApp('after'))
    const secondArgs = bench.args(gitSource(), { run: { host_port: port, instances: 2 } })
    const second = await bench.deploy(secondArgs)
    await new Promise((resolve) => setTimeout(resolve, 300))
    looping = false
    await loop

    expect(second).toMatchObject({ state: 'running', host_port: port })
    expect(failures).toEqual([])
    expect(requests).toBeGreaterThan(20)
    expect([...bodies]).toEqual(['before\n', 'after\n'])
    expect(bench.containers().sort()).toEqual([...(second.containers ?? [])].sort())
    // The image of the previous deployment stays for a rollback.
    expect(bench.images()).toEqual(expect.arrayContaining([firstArgs.image_tag, secondArgs.image_tag]))
  })

  it('keeps the old version serving when the new one fails its health check', async () => {
    await repo.commit(httpApp('healthy'))
    const good = await bench.deploy(bench.args(gitSource()))
    const port = good.host_port ?? 0
    await repo.commit(httpApp('sick'))
    const args = bench.args(gitSource(), {
      run: { host_port: port, health_check: { ...QUICK_CHECK, path: '/health' } },
    })
    const bad = await bench.deploy(args)

    expect(bad.state).toBe('failed')
    expect(bad.reason).toMatch(/did not become healthy: HTTP 404 from GET \/health/)
    const lines = bad.logs?.map((l) => l.text) ?? []
    expect(lines).toContainEqual(expect.stringMatching(/^health check 2\/2 failed: HTTP 404/))
    expect(lines).toContainEqual(expect.stringMatching(/^the last lines of berth-/))
    expect(await get(port)).toEqual({ status: 200, body: 'healthy\n' })
    expect(bench.containers()).toEqual(good.containers)
    expect(dockerCli('images', '-q', args.image_tag)).toBe('')
  })
})

describe('stopping a deploy', { timeout: 60_000 }, () => {
  // The slow step comes first, so that no step before it leaves an image behind.
  const slowBuild = (marker: string) => ({
    Dockerfile: `FROM berth-test/busybox:latest\nRUN sleep 30 && echo ${marker}\nCMD ["sleep", "60"]\n`,
  })
  /** Containers on the host whose command holds `marker`: the build's RUN step. */
  const buildSteps = (marker: string) =>
    dockerCli('ps', '-a', '--no-trunc', '--format', '{{.Command}}')
      .split('\n')
      .filter((c) => c.includes(marker))

  it('cancelled during its build, leaves no container and no image tag', async () => {
    const marker = `cancel-${Date.now()}`
    await repo.commit(slowBuild(marker), 'slow build', 'slow-cancel')
    const args = bench.args(gitSource('slow-cancel'))
    await bench.call('deploy.start', args)
    await expect.poll(() => buildSteps(marker).length, { timeout: 20_000, interval: 100 }).toBe(1)

    expect(await bench.call('deploy.cancel', { deployment_id: args.deployment_id })).toEqual({ found: true })
    const status = await bench.settled(args.deployment_id)
    expect(status.state).toBe('cancelled')
    expect(dockerCli('images', '-q', args.image_tag)).toBe('')
    await expect.poll(() => buildSteps(marker), { timeout: 10_000 }).toEqual([])
    expect(bench.containers()).not.toContain(expect.stringContaining(args.deployment_id))
    // Cancelling it again, or one never heard of, finds nothing.
    expect(await bench.call('deploy.cancel', { deployment_id: args.deployment_id })).toEqual({ found: false })
    expect(await bench.call('deploy.cancel', { deployment_id: 'dep_unknown' })).toEqual({ found: false })
  })

  it('fails a build that runs past its deadline and removes what it started', async () => {
    const marker = `deadline-${Date.now()}`
    await repo.commit(slowBuild(marker), 'slow build', 'slow-deadline')
    const args = bench.args(gitSource('slow-deadline'), { deadlines: { clone_ms: 30_000, build_ms: 1_500 } })
    const status = await bench.deploy(args)

    expect(status).toMatchObject({ state: 'failed', reason: 'the build took longer than 1.5 s' })
    expect(dockerCli('images', '-q', args.image_tag)).toBe('')
    await expect.poll(() => buildSteps(marker), { timeout: 10_000 }).toEqual([])
  })
})

describe('a git build', { timeout: 60_000 }, () => {
  it("runs within the build's CPU and memory caps, with the context its .dockerignore leaves, tagged by app and deployment", async () => {
    const steps = [
      'COPY . /src',
      'RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us && ls -a /src',
    ]
    await repo.commit(
      { ...httpApp('capped', steps), '.dockerignore': 'secret.txt\n', 'secret.txt': 'do not send' },
      'capped build',
      'capped',
    )
    const args = bench.args(gitSource('capped'), { build: { cpus: 0.5, memory: 64 * 1024 * 1024 } })
    const status = await bench.deploy(args)
    expect(status.state).toBe('running')
    const lines = status.logs?.map((l) => l.text) ?? []
    expect(lines).toContain(String(64 * 1024 * 1024))
    expect(lines).toContain('50000')
    expect(lines).toContain('index.html')
    expect(lines).not.toContain('secret.txt')
    expect(lines).not.toContain('.git')
    expect(dockerCli('images', '-q', args.image_tag)).not.toBe('')
  })
})

describe('a git deploy of a commit', { timeout: 60_000 }, () => {
  it('checks out exactly that commit, not the head of the branch', async () => {
    const old = await repo.commit(httpApp('old commit'), 'old commit')
    await repo.commit(httpApp('new commit'), 'new commit')
    const status = await bench.deploy(bench.args(gitSource(old)))
    expect(status).toMatchObject({ state: 'running', commit: { sha: old, message: 'old commit' } })
    expect(await get(status.host_port ?? 0)).toEqual({ status: 200, body: 'old commit\n' })
  })
})

describe('secrets in a deploy', { timeout: 60_000 }, () => {
  it('are masked in the build output, and URL passwords too', async () => {
    const echo = 'RUN echo "token s3cret-value-42 for https://bot:pa55word@example.com/x"'
    await repo.commit(httpApp('masked', [echo]), 'masked build', 'masked')
    const args = bench.args(gitSource('masked'), { mask: ['s3cret-value-42', 'no'] })
    const status = await bench.deploy(args)
    expect(status.state).toBe('running')
    const lines = status.logs?.map((l) => l.text) ?? []
    expect(lines).toContain('token **** for https://bot:****@example.com/x')
    expect(lines.join('\n')).not.toMatch(/s3cret-value-42|pa55word/)
    const sent = JSON.stringify(bench.jobFrames(args.deployment_id))
    expect(sent).not.toMatch(/s3cret-value-42|pa55word/)
  })

  it('reach git through its askpass, never its command line, and not the log', async () => {
    const seen: string[] = []
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization ?? '')
      if (!req.headers.authorization) res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end()
      else res.writeHead(403).end()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    try {
      const url = `http://berth:p%40ss-w0rd@127.0.0.1:${port}/app.git`
      const status = await bench.deploy(bench.args({ ...gitSource(), url }))
      expect(status.state).toBe('failed')
      expect(seen).toContain(`Basic ${Buffer.from('berth:p@ss-w0rd').toString('base64')}`)
      expect(JSON.stringify(status)).not.toMatch(/p%40ss-w0rd|p@ss-w0rd/)
    } finally {
      server.close()
    }
  })

  it('leave no deploy key behind on the host', async () => {
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEgcmVhbCBrZXkgYXQgYWxs\n-----END OPENSSH PRIVATE KEY-----'
    const args = bench.args({ ...gitSource(), url: 'ssh://git@127.0.0.1:9/app.git', ssh_key: key })
    const status = await bench.deploy(args)
    expect(status).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/^cannot clone ssh:\/\/git@127.0.0.1:9\/app.git/),
    })
    expect(JSON.stringify(status)).not.toContain('bm90IGEgcmVhbCBrZXkgYXQgYWxs')
    expect(await readdir(join(bench.workDir, 'jobs'))).toEqual([])
  })
})
