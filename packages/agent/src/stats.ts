import os from 'node:os'
import type { StatsSample } from '@berth/shared'
import { CgroupReader, type CgroupReading, systemCpuNs } from './cgroups.ts'
import { mapBounded } from './concurrency.ts'
import { cpusOf } from './containers/report.ts'
import type { Docker, StatsReading } from './docker/index.ts'
import { wait } from './link/backoff.ts'
import { type Log, messageOf } from './log.ts'

/**
 * Readings in flight at once in a round. Docker's stats collector reads every container waiting on
 * it in one pass and then sleeps a second, so readings asked together share a pass: a small bound
 * would cost a second per batch.
 */
export const STATS_CONCURRENCY = 128
export const DEFAULT_STATS_INTERVAL_MS = 10_000
/** Samples per `stats` frame, half the protocol's limit. */
const SAMPLES_PER_FRAME = 5_000
/** How long a container's CPU limit is trusted before it is read again (a `docker update` may change it). */
const LIMIT_TTL_MS = 60_000
/** A previous reading this recent gives `container.stats` its CPU % at once. */
const RECENT_MS = 30_000
/** Readings closer than this say too little about CPU use. */
const MIN_GAP_MS = 100
/** The gap between the two readings `container.stats` takes when it has no recent one. */
const PAIR_GAP_MS = 250

interface CpuReading {
  /** The container's CPU time, ns. */
  container: number
  /** The host's CPU time, ns, summed over CPUs. */
  system: number
  /** performance.now() when read. */
  at: number
}

/** What the agent remembers of each container between readings: its last CPU counters and its CPU limit. */
export class StatsHistory {
  readonly cgroups = new CgroupReader()
  private readonly readings = new Map<string, CpuReading>()
  private readonly limits = new Map<string, { cpus: number | null; at: number }>()

  /** A sample from a fresh reading; its CPU % is measured against this container's previous reading (0 on the first). */
  sample(id: string, reading: StatsReading, cpuLimit: number | null): StatsSample {
    const cpu = reading.cpu_stats
    const onlineCpus = cpu.online_cpus || cpu.cpu_usage.percpu_usage?.length || os.cpus().length
    const now: CpuReading = {
      container: cpu.cpu_usage.total_usage,
      system: cpu.system_cpu_usage ?? 0,
      at: performance.now(),
    }
    const before = this.readings.get(id)
    this.readings.set(id, now)
    const containerDelta = before ? now.container - before.container : 0
    const systemDelta = before ? now.system - before.system : 0
    const memory = reading.memory_stats
    // The page cache the kernel may drop at will is not use: cgroup v1 names it total_inactive_file, v2 inactive_file.
    const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0
    let netRx = 0
    let netTx = 0
    for (const net of Object.values(reading.networks ?? {})) {
      netRx += net.rx_bytes
      netTx += net.tx_bytes
    }
    let blkRead = 0
    let blkWrite = 0
    for (const io of reading.blkio_stats?.io_service_bytes_recursive ?? []) {
      const op = io.op.toLowerCase()
      if (op === 'read') blkRead += io.value
      else if (op === 'write') blkWrite += io.value
    }
    const read = Date.parse(reading.read)
    return {
      docker_id: id,
      at: read > 0 ? read : Date.now(),
      cpu_pct: containerDelta > 0 && systemDelta > 0 ? (containerDelta / systemDelta) * onlineCpus * 100 : 0,
      cpu_limit: cpuLimit ?? onlineCpus,
      mem_used: Math.max(0, (memory.usage ?? 0) - inactive),
      mem_limit: memory.limit ?? 0,
      net_rx: netRx,
      net_tx: netTx,
      blk_read: blkRead,
      blk_write: blkWrite,
      pids: reading.pids_stats?.current ?? 0,
    }
  }

  /** A reading of a container: from its cgroup files when they can be read, else from Docker. */
  async read(docker: Docker, id: string, signal?: AbortSignal): Promise<StatsReading> {
    return this.readCgroups(id)?.reading ?? docker.containerStats(id, signal)
  }

  /** A reading (and the CPU limit) from the container's cgroup files; null when they cannot be read. */
  readCgroups(id: string): CgroupReading | null {
    try {
      return this.cgroups.read(id, systemCpuNs())
    } catch {
      return null
    }
  }

  /** How long ago this container was last read, ms; null when never. */
  age(id: string): number | null {
    const before = this.readings.get(id)
    return before ? performance.now() - before.at : null
  }

  /** The container's CPU limit (null: unlimited), read from Docker when not known or stale. */
  async cpuLimit(docker: Docker, id: string, signal?: AbortSignal): Promise<number | null> {
    const known = this.limits.get(id)
    if (known && performance.now() - known.at < LIMIT_TTL_MS) return known.cpus
    const cpus = cpusOf(await docker.inspectContainer(id, signal))
    this.setLimit(id, cpus)
    return cpus
  }

  setLimit(id: string, cpus: number | null): void {
    this.limits.set(id, { cpus, at: performance.now() })
  }

  /** Forgets the containers not in `ids` (gone or stopped), so the history does not grow forever. */
  keepOnly(ids: Iterable<string>): void {
    const keep = new Set(ids)
    for (const id of this.readings.keys()) if (!keep.has(id)) this.readings.delete(id)
    for (const id of this.limits.keys()) if (!keep.has(id)) this.limits.delete(id)
    this.cgroups.keepOnly(ids)
  }
}

export interface StatsRound {
  samples: StatsSample[]
  /** How long the round took, ms. */
  ms: number
}

/**
 * One sampling round: a one-shot reading of each container, STATS_CONCURRENCY at a time. CPU % is
 * against `history`'s previous reading of each container (0 on the first). A container that is gone
 * or fails to answer is left out.
 */
export async function sampleRound(
  docker: Docker,
  ids: readonly string[],
  history: StatsHistory = new StatsHistory(),
  signal?: AbortSignal,
): Promise<StatsRound> {
  const started = performance.now()
  const samples = await mapBounded(ids, STATS_CONCURRENCY, async (id) => {
    try {
      const fast = history.readCgroups(id)
      if (fast) return history.sample(id, fast.reading, fast.cpus)
      const [reading, cpuLimit] = await Promise.all([
        docker.containerStats(id, signal),
        history.cpuLimit(docker, id, signal),
      ])
      return history.sample(id, reading, cpuLimit)
    } catch (err) {
      if (signal?.aborted) throw err
      return null
    }
  })
  return {
    samples: samples.filter((s): s is StatsSample => s !== null),
    ms: performance.now() - started,
  }
}

/** A sample of one container now: against its recent reading when there is one, else from two readings PAIR_GAP_MS apart. */
export async function sampleNow(
  docker: Docker,
  id: string,
  cpuLimit: number | null,
  history: StatsHistory,
  signal: AbortSignal,
): Promise<StatsSample> {
  history.setLimit(id, cpuLimit)
  const age = history.age(id)
  if (age === null || age > RECENT_MS) history.sample(id, await history.read(docker, id, signal), cpuLimit)
  const sinceLast = history.age(id) ?? 0
  const gap = age !== null && age <= RECENT_MS ? MIN_GAP_MS : PAIR_GAP_MS
  if (sinceLast < gap) await wait(gap - sinceLast, signal)
  return history.sample(id, await history.read(docker, id, signal), cpuLimit)
}

export interface StatsSamplerOptions {
  docker: Docker
  history: StatsHistory
  log: Log
  /** Sends one `stats` frame. */
  send(samples: StatsSample[]): void
}

/** Samples every running container each interval while the link is up, and sends the samples. */
export class StatsSampler {
  private running: AbortController | null = null
  private failing = false

  constructor(private readonly options: StatsSamplerOptions) {}

  /** Starts sampling now and then every `intervalMs`; a running sampler starts over with the new interval. */
  start(intervalMs: number): void {
    this.stop()
    const controller = new AbortController()
    this.running = controller
    void this.loop(intervalMs, controller.signal)
  }

  stop(): void {
    this.running?.abort()
    this.running = null
  }

  private async loop(intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = performance.now()
      await this.round(signal)
      // Rounds never overlap: a slow round delays the next rather than piling up.
      const rest = intervalMs - (performance.now() - started)
      await wait(Math.max(0, rest), signal)
    }
  }

  private async round(signal: AbortSignal): Promise<void> {
    const { docker, history, log, send } = this.options
    try {
      const running = await docker.listContainers(false, signal)
      const ids = running.map((c) => c.Id)
      history.keepOnly(ids)
      const { samples } = await sampleRound(docker, ids, history, signal)
      if (signal.aborted) return
      for (let i = 0; i < samples.length; i += SAMPLES_PER_FRAME)
        send(samples.slice(i, i + SAMPLES_PER_FRAME))
      if (this.failing) log('sampling container stats again')
      this.failing = false
    } catch (err) {
      if (signal.aborted) return
      // Said once per outage, not every interval.
      if (!this.failing) log(`cannot sample container stats: ${messageOf(err)}`)
      this.failing = true
    }
  }
}
