import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { deployJobData, ops } from '@berth/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LinkedAgent, linkedAgent } from '../testing/test-agent.ts'
import { AppBench, GitRepo, get, httpApp } from '../testing/test-apps.ts'
import { randomName } from '../testing/test-docker.ts'

// A deploy through a real agent and its link to a stand-in API: job frames, and deploy.status after a reconnect.
let linked: LinkedAgent
let repo: GitRepo
let workDir: string
// Only for its deploy arguments and clean-up of Docker objects; the agent under test runs its own apps.
let bench: AppBench

beforeAll(async () => {
  workDir = await mkdtemp(join(os.tmpdir(), 'berth-work-'))
  linked = await linkedAgent({ serverId: randomName('srv_link'), agent: { workDir } })
  await linked.link.take('event', (e) => e.kind === 'inventory')
  repo = await GitRepo.create()
  bench = await AppBench.create()
})

afterAll(async () => {
  await linked.stop()
  await bench.cleanUp()
  await repo.remove()
  await rm(workDir, { recursive: true, force: true })
})

describe('a deploy through the link', { timeout: 60_000 }, () => {
  it('reports in job frames, outlives the link, and tells deploy.status everything after a reconnect', async () => {
    await repo.commit(httpApp('linked'))
    const args = bench.args({
      type: 'git',
      url: repo.url,
      ref: 'main',
      dockerfile: 'Dockerfile',
      context: '.',
    })
    const started = await linked.link.call('deploy.start', args)
    expect(started).toMatchObject({ ok: true, data: { accepted: true } })

    // The link drops in the middle of the deploy; the deploy goes on.
    await linked.link.take('job', (f) => f.jobId === args.deployment_id && f.state === 'building')
    linked.link.socket.terminate()
    const second = await linked.api.link(1)
    await second.take('hello')
    await expect
      .poll(
        async () => {
          const reply = await second.call('deploy.status', { deployment_ids: [args.deployment_id] })
          return reply.ok ? ops['deploy.status'].result.parse(reply.data).jobs[0]?.state : reply.error.message
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe('running')

    const reply = await second.call('deploy.status', { deployment_ids: [args.deployment_id, 'dep_unknown'] })
    const { jobs } = ops['deploy.status'].result.parse(reply.ok ? reply.data : null)
    expect(jobs).toHaveLength(1)
    const [job] = jobs
    expect(job?.logs?.map((l) => l.seq)).toEqual(job?.logs?.map((_, i) => i))
    expect(job?.logs?.some((l) => l.text.startsWith('Step 1/'))).toBe(true)
    expect(await get(job?.host_port ?? 0)).toEqual({ status: 200, body: 'linked\n' })

    // What went out on the first link was valid protocol: the states up to the drop, then nothing.
    const frames = linked.link.frames.flatMap((f) =>
      f.type === 'job' && f.jobId === args.deployment_id ? [f] : [],
    )
    expect(frames[0]?.state).toBe('cloning')
    expect(frames.map((f) => f.state)).toContain('building')
    for (const f of frames) deployJobData.parse(f.data)
    expect(linked.link.invalidFrames + second.invalidFrames).toBe(0)
  })
})
