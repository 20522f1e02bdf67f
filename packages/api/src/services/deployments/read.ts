import { type DeploymentState, FINAL_STATES, type LogLine } from '@berth/shared'
import { and, asc, desc, eq, gt, lt } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../../context.ts'
import { deploymentLogs, deployments } from '../../db/schema.ts'
import { notFound } from '../../errors.ts'
import { decodeCursor, toPage } from '../../lib/pagination.ts'
import { iso, isoOrNull } from '../../lib/time.ts'
import { findApp } from '../apps.ts'

export type DeploymentRow = typeof deployments.$inferSelect

export const isFinal = (state: DeploymentState) => (FINAL_STATES as readonly string[]).includes(state)

export function toDeploymentView(row: DeploymentRow) {
  return {
    id: row.id,
    app_id: row.appId,
    server_id: row.serverId,
    state: row.state,
    reason: row.reason,
    trigger: row.trigger,
    source: row.source,
    image: row.image,
    commit: row.commitSha ? { sha: row.commitSha, message: row.commitMessage ?? '' } : null,
    rollback_of: row.rollbackOf,
    created_by: row.createdBy,
    created_at: iso(row.createdAt),
    started_at: isoOrNull(row.startedAt),
    finished_at: isoOrNull(row.finishedAt),
  }
}
export type DeploymentView = ReturnType<typeof toDeploymentView>

export async function findDeployment(ctx: ServiceContext, id: string): Promise<DeploymentRow> {
  const [row] = await ctx.db.select().from(deployments).where(eq(deployments.id, id)).limit(1)
  if (!row) throw notFound('deployment', id)
  return row
}

export async function listDeployments(
  ctx: ActorContext,
  input: { appId: string; cursor?: string; limit: number },
) {
  const { appId, ...page } = input
  await findApp(ctx, appId)
  const before = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(deployments)
    .where(and(eq(deployments.appId, appId), before ? lt(deployments.id, before) : undefined))
    .orderBy(desc(deployments.id))
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return { deployments: items.map(toDeploymentView), next_cursor: nextCursor }
}

/** A deployment's stored output after line `after` (-1 for all). */
export async function deploymentLines(
  ctx: ServiceContext,
  input: { id: string; after: number },
): Promise<LogLine[]> {
  const { id, after } = input
  const chunks = await ctx.db
    .select({ lines: deploymentLogs.lines })
    .from(deploymentLogs)
    .where(and(eq(deploymentLogs.deploymentId, id), gt(deploymentLogs.lastSeq, after)))
    .orderBy(asc(deploymentLogs.firstSeq))
  return chunks.flatMap((c) => c.lines).filter((l) => l.seq > after)
}

export const imageTag = (appName: string, deploymentId: string) => `berth/${appName}:${deploymentId}`
