import { ACTIVE_STATES, type DeploymentState, deployJobData, type LogLine } from '@berth/shared'
import { and, eq, inArray, isNull, max } from 'drizzle-orm'
import type { ServiceContext } from '../../context.ts'
import { deploymentLogs, deployments } from '../../db/schema.ts'
import type { JobFrame } from '../../hub/hub.ts'
import { log } from '../../lib/log.ts'
import { findApp } from '../apps.ts'
import { wakeFollowers } from './follow.ts'
import { claimedOrActive, type DeploymentReport, finish, kick } from './queue.ts'
import { imageTag, isFinal } from './read.ts'

/** Lines a deployment keeps; later output is dropped (the agent narrates the outcome in a system line first). */
export const MAX_LOG_LINES = 10_000
/** Lines per stored chunk, so a chunk stays well under a row's size limit. */
const CHUNK_LINES = 100

const STAGE: Record<DeploymentState, number> = {
  queued: 0,
  cloning: 1,
  building: 2,
  deploying: 3,
  running: 4,
  failed: 4,
  cancelled: 4,
  superseded: 5,
}
/** A `job` frame from a server's agent: a deployment's progress, outcome and output. */
export async function recordJob(
  ctx: ServiceContext,
  { serverId, job }: { serverId: string; job: Pick<JobFrame, 'jobId' | 'state' | 'data'> },
): Promise<void> {
  const { jobId, state, data: rawData } = job
  const parsed = deployJobData.safeParse(rawData ?? {})
  if (!parsed.success) {
    log.warn(`ignored a malformed job frame for ${jobId} from server ${serverId}`)
    return
  }
  const [row] = await ctx.db
    .select()
    .from(deployments)
    .where(and(eq(deployments.id, jobId), eq(deployments.serverId, serverId)))
    .limit(1)
  if (!row) return
  await applyJob(ctx, { row, state: state as DeploymentState, data: parsed.data })
}

async function applyJob(ctx: ServiceContext, report: DeploymentReport): Promise<void> {
  try {
    await applyReport(ctx, report)
  } finally {
    wakeFollowers(ctx, report.row)
  }
}

async function applyReport(ctx: ServiceContext, report: DeploymentReport): Promise<void> {
  const { row, state, data } = report
  if (data.logs?.length) await storeLogs(ctx, { deploymentId: row.id, lines: data.logs })
  if (!(state in STAGE) || isFinal(row.state) || STAGE[state] < STAGE[row.state]) return
  if (isFinal(state)) {
    await finish(ctx, report)
    return
  }
  const changes = {
    state,
    ...(data.commit ? { commitSha: data.commit.sha, commitMessage: data.commit.message } : {}),
    ...(data.image ? { image: data.image } : {}),
  }
  if (state === row.state && !data.commit && !data.image) return
  await ctx.db
    .update(deployments)
    .set(changes)
    .where(and(eq(deployments.id, row.id), inArray(deployments.state, ['queued', ...ACTIVE_STATES])))
}

async function storeLogs(
  ctx: ServiceContext,
  { deploymentId, lines }: { deploymentId: string; lines: LogLine[] },
): Promise<void> {
  const [stored] = await ctx.db
    .select({ last: max(deploymentLogs.lastSeq) })
    .from(deploymentLogs)
    .where(eq(deploymentLogs.deploymentId, deploymentId))
  const after = stored?.last ?? -1
  const fresh = lines.filter((l) => l.seq > after && l.seq < MAX_LOG_LINES).sort((a, b) => a.seq - b.seq)
  for (let i = 0; i < fresh.length; i += CHUNK_LINES) {
    const chunk = fresh.slice(i, i + CHUNK_LINES)
    await ctx.db
      .insert(deploymentLogs)
      .values({
        deploymentId,
        firstSeq: chunk[0]!.seq,
        lastSeq: chunk[chunk.length - 1]!.seq,
        lines: chunk,
      })
      .onConflictDoNothing()
  }
}

/**
 * After an agent (re)connects: asks it where the deployments it was handed stand and records
 * that; one it does not know was lost with the agent: it fails, and what it left is removed.
 * Then every app of the server with a deployment waiting gets its turn.
 */
export async function resumeDeployments(ctx: ServiceContext, serverId: string): Promise<void> {
  const handed = await ctx.db
    .select()
    .from(deployments)
    .where(and(eq(deployments.serverId, serverId), claimedOrActive))
  if (handed.length > 0) {
    const { jobs } = await ctx.hub.call(serverId, 'deploy.status', {
      deployment_ids: handed.map((d) => d.id),
    })
    const known = new Map(jobs.map((j) => [j.deployment_id, j]))
    for (const row of handed) {
      const job = known.get(row.id)
      if (job) await applyJob(ctx, { row, state: job.state, data: job })
      else if (row.state === 'queued') {
        // Claimed but never received: hand it over again.
        await ctx.db.update(deployments).set({ startedAt: null }).where(eq(deployments.id, row.id))
      } else {
        await ctx.hub.call(serverId, 'deploy.cleanup', {
          deployment_id: row.id,
          image_tag: imageTag((await findApp(ctx, row.appId)).name, row.id),
        })
        await finish(ctx, {
          row,
          state: 'failed',
          data: { reason: 'the agent stopped during the deployment (its process or host restarted)' },
        })
      }
    }
  }
  const waiting = await ctx.db
    .selectDistinct({ appId: deployments.appId })
    .from(deployments)
    .where(
      and(eq(deployments.serverId, serverId), eq(deployments.state, 'queued'), isNull(deployments.startedAt)),
    )
  for (const { appId } of waiting) await kick(ctx, appId)
}
