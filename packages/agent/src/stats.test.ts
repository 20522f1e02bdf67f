import os from 'node:os'
import { type StatsSample, statsSample } from '@berth/shared'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { connectDocker } from './docker/index.ts'
import { newRuntime, runOp } from './ops/index.ts'
import { StatsHistory, sampleRound } from './stats.ts'
import { linkedAgent } from './testing/test-agent.ts'
import { TEST_IMAGE, TestDocker } from './testing/test-docker.ts'

// Stats of real containers, read from real Docker.
const docker = connectDocker()
const fixtures = new TestDocker()
const BUSY = ['sh', '-c', 'while true; do :; done']

afterEach(() => fixtures.removeContainers())
afterAll(() => fixtures.removeAll())

const byId = (samples: StatsSample[], id: string) => samples.find((s) => s.docker_id === id)

describe('sampleRound', { timeout: 30_000 }, () => {
  it('samples running containers at once, with CPU % from the second round on', async () => {
    const busy = fixtures.run('--cpus', '0.5', TEST_IMAGE, ...BUSY)
    const idle = [1, 2, 3].map(() => fixtures.run('--memory', '32m', TEST_IMAGE, 'sleep', '60'))
    const ids = [busy, ...idle]
    const history = new StatsHistory()

    const first = await sampleRound(docker, ids, history)
    expect(first.samples).toHaveLength(4)
    expect(first.ms).toBeGreaterThan(0)
    for (const sample of first.samples) {
      expect(statsSample.parse(sample)).toEqual(sample)
      expect(sample.mem_used).toBeGreaterThan(0)
      expect(sample.pids).toBeGreaterThanOrEqual(1)
      expect(sample.cpu_pct).toBe(0)
      expect(sample.at).toBeGreaterThan(Date.now() - 60_000)
    }
    expect(byId(first.samples, busy)?.cpu_limit).toBe(0.5)
    expect(byId(first.samples, idle[0] ?? '')).toMatchObject({
      cpu_limit: os.cpus().length,
      mem_limit: 32 * 1024 * 1024,
    })

    await new Promise((resolve) => setTimeout(resolve, 500))
    const second = await sampleRound(docker, ids, history)
    const busyCpu = byId(second.samples, busy)?.cpu_pct ?? 0
    // Half a CPU at most, and well above nothing for a shell spinning.
    expect(busyCpu).toBeGreaterThan(20)
    expect(busyCpu).toBeLessThan(80)
    for (const id of idle) expect(byId(second.samples, id)?.cpu_pct).toBeLessThan(5)
  })

  it('leaves out a container that is gone', async () => {
    const id = fixtures.run(TEST_IMAGE, 'sleep', '60')
    const round = await sampleRound(docker, [id, 'f'.repeat(64)])
    expect(round.samples.map((s) => s.docker_id)).toEqual([id])
  })
})

describe('container.stats', { timeout: 30_000 }, () => {
  it('gives one sample now, with CPU % even without an earlier reading', async () => {
    const id = fixtures.run(TEST_IMAGE, ...BUSY)
    const data = await runOp(
      'container.stats',
      { ref: id.slice(0, 12) },
      {
        docker,
        signal: AbortSignal.timeout(10_000),
        agent: newRuntime(),
      },
    )
    const sample = statsSample.parse(data)
    expect(sample.docker_id).toBe(id)
    expect(sample.cpu_pct).toBeGreaterThan(20)
    expect(sample.pids).toBeGreaterThanOrEqual(1)
  })
})

describe('the stats sampler', { timeout: 30_000 }, () => {
  it('sends the samples of running containers at the interval the welcome names', async () => {
    const id = fixtures.run(TEST_IMAGE, ...BUSY)
    const linked = await linkedAgent({ statsIntervalMs: 200 })
    try {
      const withCpu = (frame: { samples: Record<string, unknown>[] }) =>
        frame.samples.some((s) => s.docker_id === id && typeof s.cpu_pct === 'number' && s.cpu_pct > 0)
      const frame = await linked.link.take('stats', withCpu)
      expect(frame.samples.map((s) => statsSample.parse(s).docker_id)).toContain(id)
    } finally {
      await linked.stop()
    }
  })
})
