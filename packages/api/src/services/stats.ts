import { type StatsSample, statsSample } from '@berth/shared'
import { and, asc, eq, gte, inArray, lt } from 'drizzle-orm'
import { z } from 'zod'
import type { ServiceContext } from '../context.ts'
import { containerStats, containers } from '../db/schema.ts'
import { log } from '../lib/log.ts'

const samples = z.array(statsSample)
/**
 * D1 binds at most 100 values per statement (libSQL far more): samples are inserted 8 rows
 * (12 values each) per statement, all statements of a report in one batch, one round trip.
 */
const ROWS_PER_INSERT = 8
const IDS_PER_QUERY = 90

/** Stores a batch of samples from a server's agent under the Berth ids of their containers. */
export async function recordStats(
  ctx: ServiceContext,
  { serverId, samples: raw }: { serverId: string; samples: unknown[] },
): Promise<void> {
  const parsed = samples.safeParse(raw)
  if (!parsed.success) {
    log.warn(`server ${serverId} sent stats that do not parse`)
    return
  }
  if (parsed.data.length === 0) return
  const dockerIds = [...new Set(parsed.data.map((s) => s.docker_id))]
  const idOf = new Map<string, string>()
  for (let i = 0; i < dockerIds.length; i += IDS_PER_QUERY) {
    const ids = await ctx.db
      .select({ id: containers.id, dockerId: containers.dockerId })
      .from(containers)
      .where(
        and(
          eq(containers.serverId, serverId),
          inArray(containers.dockerId, dockerIds.slice(i, i + IDS_PER_QUERY)),
        ),
      )
    for (const r of ids) idOf.set(r.dockerId, r.id)
  }
  const rows = parsed.data.flatMap((s) => {
    const containerId = idOf.get(s.docker_id)
    return containerId ? [toRow(serverId, containerId, s)] : []
  })
  const inserts = []
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    inserts.push(ctx.db.insert(containerStats).values(rows.slice(i, i + ROWS_PER_INSERT)))
  }
  const [first, ...rest] = inserts
  if (first) await ctx.db.batch([first, ...rest])
}

function toRow(serverId: string, containerId: string, s: StatsSample): typeof containerStats.$inferInsert {
  return {
    serverId,
    containerId,
    at: s.at,
    cpuPct: s.cpu_pct,
    cpuLimit: s.cpu_limit,
    memUsed: s.mem_used,
    memLimit: s.mem_limit,
    netRx: s.net_rx,
    netTx: s.net_tx,
    blkRead: s.blk_read,
    blkWrite: s.blk_write,
    pids: s.pids,
  }
}

/** A sample as the API shows it: per timestamp memory, cpu with its limit, network with deltas. */
export interface StatsPoint {
  at: string
  timestamp: number
  cpu: { percent: number; limit: number }
  memory: { used: number; limit: number }
  network: { rx: number; tx: number; rx_delta: number; tx_delta: number }
  block_io: { read: number; write: number }
  pids: number
}

/** The series of one container since `since` (unix seconds), oldest first, with network deltas. */
export async function statsHistory(
  ctx: ServiceContext,
  { containerId, since }: { containerId: string; since: number | undefined },
) {
  const from = since !== undefined ? since * 1000 : ctx.clock.now() - ctx.config.statsRetentionSeconds * 1000
  const rows = await ctx.db
    .select()
    .from(containerStats)
    .where(and(eq(containerStats.containerId, containerId), gte(containerStats.at, from)))
    .orderBy(asc(containerStats.at))
  const points: StatsPoint[] = []
  let previous: (typeof rows)[number] | undefined
  for (const r of rows) {
    // Counters start again from zero when the container restarts; the delta is then the new total.
    const delta = (now: number, before: number | undefined) =>
      before === undefined ? 0 : now >= before ? now - before : now
    points.push({
      at: new Date(r.at).toISOString(),
      timestamp: Math.floor(r.at / 1000),
      cpu: { percent: r.cpuPct, limit: r.cpuLimit },
      memory: { used: r.memUsed, limit: r.memLimit },
      network: {
        rx: r.netRx,
        tx: r.netTx,
        rx_delta: delta(r.netRx, previous?.netRx),
        tx_delta: delta(r.netTx, previous?.netTx),
      },
      block_io: { read: r.blkRead, write: r.blkWrite },
      pids: r.pids,
    })
    previous = r
  }
  return points
}

export async function pruneStats(ctx: ServiceContext): Promise<void> {
  await ctx.db
    .delete(containerStats)
    .where(lt(containerStats.at, ctx.clock.now() - ctx.config.statsRetentionSeconds * 1000))
}
