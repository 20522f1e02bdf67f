import { newId } from '@berth/shared'
import { and, asc, desc, eq, gt, gte, lt } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../context.ts'
import { likeContaining, likeEscaped } from '../db/like.ts'
import { auditLog } from '../db/schema.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { DAY_MS, iso } from '../lib/time.ts'

export interface AuditEntry {
  actorType: 'user' | 'token' | 'agent' | 'anonymous'
  actorId: string | null
  /** `METHOD /route/pattern`: never the body, so no secret can reach the log. */
  action: string
  target: string | null
  status: number
  durationMs: number
  requestId: string
  ip: string | null
}

/** Entries wait this long to be written together: one insert for a burst of requests, not one each. */
const AUDIT_FLUSH_MS = 20
const AUDIT_BATCH = 200

/** A target is an id or a name from the URL, an address at most an IPv6 one: longer is cut, not stored whole. */
const MAX_TARGET = 128
const MAX_IP = 64
const clip = (value: string | null, max: number) =>
  value && value.length > max ? value.slice(0, max) : value

interface Pending {
  rows: (typeof auditLog.$inferInsert)[]
  flush: Promise<void> | null
}
const pendingByDb = new WeakMap<object, Pending>()

/** Queues an entry; the promise settles once it is written (Workers hand it to waitUntil). */
export function recordAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  const at = ctx.clock.now()
  let pending = pendingByDb.get(ctx.db)
  if (!pending) {
    pending = { rows: [], flush: null }
    pendingByDb.set(ctx.db, pending)
  }
  pending.rows.push({
    id: newId('audit', at),
    at,
    ...entry,
    target: clip(entry.target, MAX_TARGET),
    ip: clip(entry.ip, MAX_IP),
  })
  if (pending.rows.length >= AUDIT_BATCH) return flushAudit(ctx)
  const p = pending
  p.flush ??= new Promise((resolve) => setTimeout(resolve, AUDIT_FLUSH_MS)).then(() => flushAudit(ctx))
  return p.flush
}

/** Writes the queued entries now. */
export async function flushAudit(ctx: ServiceContext): Promise<void> {
  const pending = pendingByDb.get(ctx.db)
  if (!pending || pending.rows.length === 0) return
  const rows = pending.rows.splice(0)
  pending.flush = null
  // D1 binds at most 100 values per statement: 9 entries (10 values each) per insert, one batch.
  const inserts = []
  for (let i = 0; i < rows.length; i += 9) inserts.push(ctx.db.insert(auditLog).values(rows.slice(i, i + 9)))
  const [first, ...rest] = inserts
  if (first) await ctx.db.batch([first, ...rest])
}

export interface AuditFilter {
  cursor?: string
  limit: number
  /** An actor's id. */
  actor?: string
  /** Text the action (`METHOD /pattern`) contains. */
  action?: string
  /** Only requests answered 400 or above (true), or only the others (false). */
  failed?: boolean
}

export async function listAudit(ctx: ActorContext, filter: AuditFilter) {
  await flushAudit(ctx)
  const before = decodeCursor(filter.cursor)
  const rows = await ctx.db
    .select()
    .from(auditLog)
    .where(
      and(
        before ? lt(auditLog.id, before) : undefined,
        filter.actor ? eq(auditLog.actorId, filter.actor) : undefined,
        filter.action ? likeEscaped(auditLog.action, likeContaining(filter.action)) : undefined,
        filter.failed === true ? gte(auditLog.status, 400) : undefined,
        filter.failed === false ? lt(auditLog.status, 400) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(filter.limit + 1)
  const { items, nextCursor } = toPage(rows, filter.limit)
  return { entries: items.map(toAuditView), next_cursor: nextCursor }
}

export function toAuditView(r: typeof auditLog.$inferSelect) {
  return {
    id: r.id,
    at: iso(r.at),
    actor: { type: r.actorType, id: r.actorId },
    action: r.action,
    target: r.target,
    status: r.status,
    duration_ms: r.durationMs,
    request_id: r.requestId,
    ip: r.ip,
  }
}

/** Entries written after `afterId` (all for null), oldest first, at most `limit`. */
export async function auditAfter(
  ctx: ServiceContext,
  { afterId, limit }: { afterId: string | null; limit: number },
) {
  await flushAudit(ctx)
  const rows = await ctx.db
    .select()
    .from(auditLog)
    .where(afterId ? gt(auditLog.id, afterId) : undefined)
    .orderBy(asc(auditLog.id))
    .limit(limit)
  return rows.map(toAuditView)
}

/** The id of the newest entry, or null for an empty log. */
export async function latestAuditId(ctx: ServiceContext): Promise<string | null> {
  await flushAudit(ctx)
  const [row] = await ctx.db.select({ id: auditLog.id }).from(auditLog).orderBy(desc(auditLog.id)).limit(1)
  return row?.id ?? null
}

/** Deletes entries older than the audit retention (BERTH_AUDIT_RETENTION_DAYS). */
export async function pruneAudit(ctx: ServiceContext): Promise<void> {
  await ctx.db
    .delete(auditLog)
    .where(lt(auditLog.at, ctx.clock.now() - ctx.config.auditRetentionDays * DAY_MS))
}
