import { newId } from '@berth/shared'
import { desc, lt } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../context.ts'
import { auditLog } from '../db/schema.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { iso } from '../lib/time.ts'

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

export async function recordAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  const at = ctx.clock.now()
  await ctx.db.insert(auditLog).values({ id: newId('audit', at), at, ...entry })
}

export async function listAudit(ctx: ActorContext, page: { cursor?: string; limit: number }) {
  const before = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(auditLog)
    .where(before ? lt(auditLog.id, before) : undefined)
    .orderBy(desc(auditLog.id))
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return {
    entries: items.map((r) => ({
      id: r.id,
      at: iso(r.at),
      actor: { type: r.actorType, id: r.actorId },
      action: r.action,
      target: r.target,
      status: r.status,
      duration_ms: r.durationMs,
      request_id: r.requestId,
      ip: r.ip,
    })),
    next_cursor: nextCursor,
  }
}
