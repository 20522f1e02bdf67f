import { afterAll, expect, it } from 'vitest'
import { CgroupReader, systemCpuNs } from './cgroups.ts'
import { connectDocker } from './docker/index.ts'
import { TEST_IMAGE, TestDocker } from './testing/test-docker.ts'

// The cgroup reader against Docker's own stats API for the same real container.
const docker = connectDocker()
const fixtures = new TestDocker()
afterAll(() => fixtures.removeAll())

it('reads what Docker reports for a container, without waiting on Docker', { timeout: 30_000 }, async () => {
  const id = fixtures.run(
    '--memory',
    '48m',
    '--cpus',
    '0.5',
    '--pids-limit',
    '50',
    TEST_IMAGE,
    'sh',
    '-c',
    'sleep 60 & sleep 60 & wait',
  )
  const reader = new CgroupReader()
  const fast = reader.read(id, systemCpuNs())?.reading
  const slow = await docker.containerStats(id)
  expect(fast).not.toBeNull()
  expect(fast?.memory_stats.limit).toBe(48 * 1024 * 1024)
  expect(fast?.memory_stats.limit).toBe(slow.memory_stats.limit)
  expect(fast?.pids_stats?.current).toBe(3)
  expect(fast?.pids_stats?.current).toBe(slow.pids_stats?.current)
  // Counters only grow, and the cgroup reading came first.
  expect(Object.keys(fast?.networks ?? {})).toEqual(Object.keys(slow.networks ?? {}))
  for (const [name, net] of Object.entries(fast?.networks ?? {})) {
    expect(net.rx_bytes).toBeLessThanOrEqual(slow.networks?.[name]?.rx_bytes ?? 0)
    expect(net.tx_bytes).toBeLessThanOrEqual(slow.networks?.[name]?.tx_bytes ?? 0)
  }
  // Memory moves a little between two readings; the same order of magnitude is what matters.
  expect(Math.abs((fast?.memory_stats.usage ?? 0) - (slow.memory_stats.usage ?? 0))).toBeLessThan(1024 * 1024)
  expect(fast?.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0)
  expect(reader.read(id, systemCpuNs())?.cpus).toBe(0.5)
})

it('says null for a container it cannot find, so the caller asks Docker', async () => {
  expect(new CgroupReader().read('0'.repeat(64), systemCpuNs())).toBeNull()
})
