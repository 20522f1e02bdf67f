import { APP_LABELS } from '@berth/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dockerCli, inspectCli } from '../test-docker.ts'
import { AppBench, GitRepo, get, httpApp } from './test-apps.ts'

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
