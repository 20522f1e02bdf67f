import { access, readFile } from 'node:fs/promises'
import os from 'node:os'
import type { StatsReading } from './docker.ts'

// Container stats read straight from the kernel's cgroup files, in the shape Docker's stats API
// gives. Docker's own collector answers once per second for everyone waiting, so a round through
// it costs a second; these files answer at once. When they are not readable (an agent in a
// container without /sys/fs/cgroup, another cgroup layout) the caller falls back to Docker.

const ROOT = process.env.BERTH_CGROUP_ROOT ?? '/sys/fs/cgroup'
/** Linux reports /proc/stat in USER_HZ ticks, 100 a second on every platform Docker runs on. */
const NS_PER_TICK = 1e9 / 100
/** cgroup v1's "no limit" is a page-rounded 2^63. */
const UNLIMITED = 2 ** 62

type Layout =
  | { version: 1; cpu: string; memory: string; pids: string; blkio: string }
  | { version: 2; dir: string }

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

async function firstExisting(paths: string[]): Promise<string | null> {
  for (const p of paths) if (await exists(p)) return p
  return null
}

const read = (path: string) => readFile(path, 'utf8')
const readNumber = async (path: string) => Number((await read(path)).trim())

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
export async function systemCpuNs(): Promise<number> {
  const first = (await read('/proc/stat')).split('\n', 1)[0] ?? ''
  const ticks = first
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, f) => sum + Number(f), 0)
  return ticks * NS_PER_TICK
}

/** Bytes received and sent by a process's network namespace, loopback left out (as Docker does). */
async function network(pid: number): Promise<Record<string, { rx_bytes: number; tx_bytes: number }>> {
  const out: Record<string, { rx_bytes: number; tx_bytes: number }> = {}
  for (const line of (await read(`/proc/${pid}/net/dev`)).split('\n').slice(2)) {
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
  private v2: Promise<boolean> | undefined

  /** Forgets containers not in `ids`. */
  keepOnly(ids: Iterable<string>): void {
    const keep = new Set(ids)
    for (const id of this.layouts.keys()) if (!keep.has(id)) this.layouts.delete(id)
  }

  /** A reading of one container, or null when its cgroup files cannot be found or read. */
  async read(id: string, systemNs: number): Promise<StatsReading | null> {
    const layout = await this.layout(id)
    if (!layout) return null
    try {
      // Any process of the container shares its network namespace.
      const procs = await read(`${layout.version === 1 ? layout.cpu : layout.dir}/cgroup.procs`)
      const pid = Number.parseInt(procs, 10)
      if (!Number.isInteger(pid)) return null
      const [stats, networks] = await Promise.all([
        layout.version === 1 ? this.readV1(layout) : this.readV2(layout.dir),
        network(pid),
      ])
      return {
        read: new Date().toISOString(),
        cpu_stats: {
          cpu_usage: { total_usage: stats.cpuNs },
          system_cpu_usage: systemNs,
          online_cpus: os.cpus().length,
        },
        memory_stats: {
          usage: stats.memory,
          limit: stats.limit >= UNLIMITED ? os.totalmem() : Math.min(stats.limit, os.totalmem()),
          stats: { inactive_file: stats.inactiveFile },
        },
        networks,
        blkio_stats: {
          io_service_bytes_recursive: [
            { op: 'read', value: stats.blkRead },
            { op: 'write', value: stats.blkWrite },
          ],
        },
        pids_stats: { current: stats.pids },
      }
    } catch {
      // The container went away between the list and the read, or a file is missing: let Docker answer.
      this.layouts.delete(id)
      return null
    }
  }

  private async layout(id: string): Promise<Layout | null> {
    if (this.layouts.has(id)) return this.layouts.get(id) ?? null
    this.v2 ??= exists(`${ROOT}/cgroup.controllers`)
    let layout: Layout | null = null
    if (await this.v2) {
      const dir = await firstExisting([`${ROOT}/system.slice/docker-${id}.scope`, `${ROOT}/docker/${id}`])
      if (dir) layout = { version: 2, dir }
    } else {
      // cgroupfs driver: <controller>/docker/<id>; systemd driver: <controller>/system.slice/docker-<id>.scope
      const under = (controller: string) =>
        firstExisting([
          `${ROOT}/${controller}/docker/${id}`,
          `${ROOT}/${controller}/system.slice/docker-${id}.scope`,
        ])
      const [cpu, memory, pids, blkio] = await Promise.all([
        under('cpuacct'),
        under('memory'),
        under('pids'),
        under('blkio'),
      ])
      if (cpu && memory && pids && blkio) layout = { version: 1, cpu, memory, pids, blkio }
    }
    this.layouts.set(id, layout)
    return layout
  }

  private async readV1(l: Extract<Layout, { version: 1 }>) {
    const [cpuNs, memory, limit, memStat, pids, io] = await Promise.all([
      readNumber(`${l.cpu}/cpuacct.usage`),
      readNumber(`${l.memory}/memory.usage_in_bytes`),
      readNumber(`${l.memory}/memory.limit_in_bytes`),
      read(`${l.memory}/memory.stat`),
      readNumber(`${l.pids}/pids.current`),
      read(`${l.blkio}/blkio.throttle.io_service_bytes_recursive`).catch(() =>
        read(`${l.blkio}/blkio.throttle.io_service_bytes`),
      ),
    ])
    let blkRead = 0
    let blkWrite = 0
    for (const line of io.split('\n')) {
      const [, op, value] = line.split(' ')
      if (op === 'Read') blkRead += Number(value)
      else if (op === 'Write') blkWrite += Number(value)
    }
    return {
      cpuNs,
      memory,
      limit,
      inactiveFile: keyValues(memStat).total_inactive_file ?? 0,
      pids,
      blkRead,
      blkWrite,
    }
  }

  private async readV2(dir: string) {
    const [cpuStat, memory, max, memStat, pids, io] = await Promise.all([
      read(`${dir}/cpu.stat`),
      readNumber(`${dir}/memory.current`),
      read(`${dir}/memory.max`),
      read(`${dir}/memory.stat`),
      readNumber(`${dir}/pids.current`),
      read(`${dir}/io.stat`).catch(() => ''),
    ])
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
      cpuNs: (keyValues(cpuStat).usage_usec ?? 0) * 1000,
      memory,
      limit: max.trim() === 'max' ? Number.POSITIVE_INFINITY : Number(max),
      inactiveFile: keyValues(memStat).inactive_file ?? 0,
      pids,
      blkRead,
      blkWrite,
    }
  }
}
