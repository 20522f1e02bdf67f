import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import type { StatsReading } from './docker/index.ts'

// Container stats read straight from the kernel's cgroup files, in the shape Docker's stats API
// gives. Docker's own collector answers once per second for everyone waiting, so a round through
// it costs a second; these files answer at once. When they are not readable (an agent in a
// container without /sys/fs/cgroup, another cgroup layout) the caller falls back to Docker.
// The files live in memory and answer in microseconds, so they are read synchronously: going
// through the thread pool would cost more CPU than the reads themselves.

const ROOT = process.env.BERTH_CGROUP_ROOT ?? '/sys/fs/cgroup'
/** Linux reports /proc/stat in USER_HZ ticks, 100 a second on every platform Docker runs on. */
const NS_PER_TICK = 1e9 / 100
/** cgroup v1's "no limit" is a page-rounded 2^63. */
const UNLIMITED = 2 ** 62
const CPU_COUNT = os.cpus().length

type Layout =
  | { version: 1; cpu: string; cpuacct: string; memory: string; pids: string; blkio: string }
  | { version: 2; dir: string }

/** What the cgroup files say of a container: a reading in Docker's shape, and its CPU limit. */
export interface CgroupReading {
  reading: StatsReading
  /** CPUs the container may use; null when unlimited. */
  cpus: number | null
}

interface Counters {
  cpus: number | null
  cpuNs: number
  memory: number
  limit: number
  inactiveFile: number
  pids: number
  blkRead: number
  blkWrite: number
}

const firstExisting = (paths: string[]): string | null => paths.find((p) => existsSync(p)) ?? null
const read = (path: string) => readFileSync(path, 'utf8')
const readNumber = (path: string) => Number(read(path).trim())

/** key value lines (memory.stat, cpu.stat) → numbers. */
function keyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ')
    if (key && value !== undefined) out[key] = Number(value)
  }
  return out
}

/** The host's CPU time so far, ns, as Docker computes system_cpu_usage (the first seven /proc/stat fields). */
export function systemCpuNs(): number {
  const first = read('/proc/stat').split('\n', 1)[0] ?? ''
  let ticks = 0
  for (const field of first.split(/\s+/).slice(1, 8)) ticks += Number(field)
  return ticks * NS_PER_TICK
}

/** Bytes received and sent by a process's network namespace, loopback left out (as Docker does). */
function network(pid: number): Record<string, { rx_bytes: number; tx_bytes: number }> {
  const out: Record<string, { rx_bytes: number; tx_bytes: number }> = {}
  for (const line of read(`/proc/${pid}/net/dev`).split('\n').slice(2)) {
    const [name, rest] = line.split(':')
    const iface = name?.trim()
    if (!iface || !rest || iface === 'lo') continue
    const fields = rest.trim().split(/\s+/).map(Number)
    out[iface] = { rx_bytes: fields[0] ?? 0, tx_bytes: fields[8] ?? 0 }
  }
  return out
}

export class CgroupReader {
  private readonly layouts = new Map<string, Layout | null>()
  private v2: boolean | undefined

  /** Forgets containers not in `ids`. */
  keepOnly(ids: Iterable<string>): void {
    const keep = new Set(ids)
    for (const id of this.layouts.keys()) if (!keep.has(id)) this.layouts.delete(id)
  }

  /** A reading of one container, or null when its cgroup files cannot be found or read. */
  read(id: string, systemNs: number): CgroupReading | null {
    const layout = this.layout(id)
    if (!layout) return null
    try {
      // Any process of the container shares its network namespace.
      const pid = Number.parseInt(
        read(`${layout.version === 1 ? layout.cpuacct : layout.dir}/cgroup.procs`),
        10,
      )
      if (!Number.isInteger(pid)) return null
      const c = layout.version === 1 ? readV1(layout) : readV2(layout.dir)
      return {
        cpus: c.cpus,
        reading: {
          read: new Date().toISOString(),
          cpu_stats: {
            cpu_usage: { total_usage: c.cpuNs },
            system_cpu_usage: systemNs,
            online_cpus: CPU_COUNT,
          },
          memory_stats: {
            usage: c.memory,
            limit: c.limit >= UNLIMITED ? os.totalmem() : Math.min(c.limit, os.totalmem()),
            stats: { inactive_file: c.inactiveFile },
          },
          networks: network(pid),
          blkio_stats: {
            io_service_bytes_recursive: [
              { op: 'read', value: c.blkRead },
              { op: 'write', value: c.blkWrite },
            ],
          },
          pids_stats: { current: c.pids },
        },
      }
    } catch {
      // The container went away between the list and the read, or a file is missing: let Docker answer.
      this.layouts.delete(id)
      return null
    }
  }

  private layout(id: string): Layout | null {
    const known = this.layouts.get(id)
    if (known !== undefined) return known
    this.v2 ??= existsSync(`${ROOT}/cgroup.controllers`)
    let layout: Layout | null = null
    if (this.v2) {
      const dir = firstExisting([`${ROOT}/system.slice/docker-${id}.scope`, `${ROOT}/docker/${id}`])
      if (dir) layout = { version: 2, dir }
    } else {
      // cgroupfs driver: <controller>/docker/<id>; systemd driver: <controller>/system.slice/docker-<id>.scope
      const under = (controller: string) =>
        firstExisting([
          `${ROOT}/${controller}/docker/${id}`,
          `${ROOT}/${controller}/system.slice/docker-${id}.scope`,
        ])
      const [cpu, cpuacct, memory, pids, blkio] = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'].map(under)
      if (cpu && cpuacct && memory && pids && blkio)
        layout = { version: 1, cpu, cpuacct, memory, pids, blkio }
    }
    this.layouts.set(id, layout)
    return layout
  }
}

function readV1(l: Extract<Layout, { version: 1 }>): Counters {
  const quota = readNumber(`${l.cpu}/cpu.cfs_quota_us`)
  const period = readNumber(`${l.cpu}/cpu.cfs_period_us`)
  const recursive = `${l.blkio}/blkio.throttle.io_service_bytes_recursive`
  const io = read(existsSync(recursive) ? recursive : `${l.blkio}/blkio.throttle.io_service_bytes`)
  let blkRead = 0
  let blkWrite = 0
  for (const line of io.split('\n')) {
    const [, op, value] = line.split(' ')
    if (op === 'Read') blkRead += Number(value)
    else if (op === 'Write') blkWrite += Number(value)
  }
  return {
    cpus: quota > 0 && period > 0 ? quota / period : null,
    cpuNs: readNumber(`${l.cpuacct}/cpuacct.usage`),
    memory: readNumber(`${l.memory}/memory.usage_in_bytes`),
    limit: readNumber(`${l.memory}/memory.limit_in_bytes`),
    inactiveFile: keyValues(read(`${l.memory}/memory.stat`)).total_inactive_file ?? 0,
    pids: readNumber(`${l.pids}/pids.current`),
    blkRead,
    blkWrite,
  }
}

function readV2(dir: string): Counters {
  const [quota, period] = read(`${dir}/cpu.max`).trim().split(' ')
  const max = read(`${dir}/memory.max`).trim()
  const io = existsSync(`${dir}/io.stat`) ? read(`${dir}/io.stat`) : ''
  let blkRead = 0
  let blkWrite = 0
  for (const line of io.split('\n')) {
    for (const pair of line.split(' ').slice(1)) {
      const [key, value] = pair.split('=')
      if (key === 'rbytes') blkRead += Number(value)
      else if (key === 'wbytes') blkWrite += Number(value)
    }
  }
  return {
    cpus: quota && quota !== 'max' && Number(period) > 0 ? Number(quota) / Number(period) : null,
    cpuNs: (keyValues(read(`${dir}/cpu.stat`)).usage_usec ?? 0) * 1000,
    memory: readNumber(`${dir}/memory.current`),
    limit: max === 'max' ? Number.POSITIVE_INFINITY : Number(max),
    inactiveFile: keyValues(read(`${dir}/memory.stat`)).inactive_file ?? 0,
    pids: readNumber(`${dir}/pids.current`),
    blkRead,
    blkWrite,
  }
}
