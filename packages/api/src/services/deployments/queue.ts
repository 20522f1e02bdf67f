import { ACTIVE_STATES, type DeployArgs, type DeployJobData, type DeploymentState } from '@berth/shared'
import { and, asc, eq, inArray, isNotNull, isNull, lt, ne, notExists, or } from 'drizzle-orm'
import { alias } from 'drizzle-orm/sqlite-core'
import type { ServiceContext } from '../../context.ts'
import { apps, deployments } from '../../db/schema.ts'
import { ApiError } from '../../errors.ts'
import { log } from '../../lib/log.ts'
import { type AppRow, appVolumeName, deployKeyForDeploy, envForDeploy, findApp } from '../apps.ts'
import { findServer } from '../servers.ts'
import { wakeFollowers } from './follow.ts'
import { type DeploymentRow, imageTag } from './read.ts'

/** How long deploy.start may take to be acknowledged. */
const DISPATCH_TIMEOUT_MS = 30_000
/** On top of a deployment's stage deadlines, before the API gives up on an agent that never reports. */
const DEPLOY_GRACE_MS = 15 * 60_000

/** A deployment the agent has been handed (or is being handed): at most one per app. */
const handedTo = (table: typeof deployments | typeof other) =>
  or(inArray(table.state, [...ACTIVE_STATES]), and(eq(table.state, 'queued'), isNotNull(table.startedAt)))
/** Another row of the table, for the claim's "none of the app's is handed over" check. */
const other = alias(deployments, 'd')
export const claimedOrActive = handedTo(deployments)

/**
 * Hands the app's oldest queued deployment to its agent, unless one of the app's deployments is
 * already with the agent. The claim is one conditional UPDATE, so two kicks never both win.
 */
export async function kick(ctx: ServiceContext, appId: string): Promise<void> {
  const [next] = await ctx.db
    .select()
    .from(deployments)
    .where(and(eq(deployments.appId, appId), eq(deployments.state, 'queued'), isNull(deployments.startedAt)))
    .orderBy(asc(deployments.id))
    .limit(1)
  if (!next || !(await ctx.hub.online(next.serverId))) return
  const now = ctx.clock.now()
  const claimed = await ctx.db
    .update(deployments)
    .set({ startedAt: now })
    .where(
      and(
        eq(deployments.id, next.id),
        eq(deployments.state, 'queued'),
        isNull(deployments.startedAt),
        notExists(
          ctx.db
            .select({ id: other.id })
            .from(other)
            .where(and(eq(other.appId, appId), handedTo(other))),
        ),
      ),
    )
    .returning({ id: deployments.id })
  if (claimed.length === 0) return
  try {
    const app = await findApp(ctx, appId)
    const args = await deployArgs(ctx, { app, dep: next })
    await ctx.hub.call(next.serverId, 'deploy.start', args, { timeoutMs: DISPATCH_TIMEOUT_MS })
  } catch (err) {
    if (err instanceof ApiError && (err.kind === 'agent_offline' || err.kind === 'timeout')) {
      // Not handed over: it waits for the agent to come back.
      await ctx.db.update(deployments).set({ startedAt: null }).where(eq(deployments.id, next.id))
      return
    }
    const reason = err instanceof ApiError ? err.message : 'the deployment could not be started'
    if (!(err instanceof ApiError)) log.error(`deployment ${next.id} could not be started`, err)
    await finish(ctx, { row: next, state: 'failed', data: { reason } })
  }
}

async function deployArgs(
  ctx: ServiceContext,
  { app, dep }: { app: AppRow; dep: DeploymentRow },
): Promise<DeployArgs> {
  const server = await findServer(ctx, app.serverId)
  const secrets = await envForDeploy(ctx, app.id)
  const env: Record<string, string> = {
    ...secrets,
    BERTH_APP_ID: app.id,
    BERTH_APP_NAME: app.name,
    BERTH_DEPLOYMENT_ID: dep.id,
    PORT: String(app.port),
  }
  const firstVolume = app.volumes[0]
  if (firstVolume) env.BERTH_PERSISTENT_DIR = firstVolume.target
  const src = dep.source
  let source: DeployArgs['source']
  let sshKey: string | undefined
  if (src.type === 'git') {
    const { ssh, ...git } = src
    sshKey = ssh ? await deployKeyForDeploy(ctx, app) : undefined
    source = sshKey ? { ...git, ssh_key: sshKey } : git
  } else source = src
  const hostCpus = server.cpus ?? 1
  return {
    deployment_id: dep.id,
    app_id: app.id,
    app_name: app.name,
    source,
    image_tag: imageTag(app.name, dep.id),
    // The app's caps, else its server's, else the API's (3/4 of the server's CPUs when unset).
    build: {
      cpus:
        app.buildResources.cpus ??
        server.buildResources.cpus ??
        ctx.config.buildCpus ??
        Math.max(1, Math.round(hostCpus * 75) / 100),
      memory: app.buildResources.memory ?? server.buildResources.memory ?? ctx.config.buildMemory,
    },
    run: {
      port: app.port,
      env,
      volumes: app.volumes.map((v) => ({ volume: appVolumeName(app.name, v.name), target: v.target })),
      resources: app.resources,
      instances: app.instances,
      health_check: app.healthCheck,
      host_port: app.hostPort,
      port_range: { start: server.portRangeStart, end: server.portRangeEnd },
      ports: app.ports,
    },
    deadlines: { clone_ms: app.deadlines.clone * 1000, build_ms: app.deadlines.build * 1000 },
    mask: [...Object.values(secrets), ...(sshKey ? [sshKey] : [])].filter((v) => v.length >= 3),
  }
}

/** A state a deployment reached, with what its agent said of it. */
export interface DeploymentReport {
  row: DeploymentRow
  state: DeploymentState
  data: DeployJobData
}

/** Ends a deployment. Running: it replaces the app's serving deployment. Then the app's next in line starts. */
export async function finish(ctx: ServiceContext, { row, state, data }: DeploymentReport): Promise<void> {
  const now = ctx.clock.now()
  const notFinal = inArray(deployments.state, ['queued', ...ACTIVE_STATES])
  const update = ctx.db
    .update(deployments)
    .set({
      state,
      reason: state === 'running' ? null : (data.reason ?? null),
      finishedAt: now,
      ...(data.commit ? { commitSha: data.commit.sha, commitMessage: data.commit.message } : {}),
      ...(data.image ? { image: data.image } : {}),
    })
    .where(and(eq(deployments.id, row.id), notFinal))
  if (state === 'running') {
    await ctx.db.batch([
      update,
      ctx.db
        .update(deployments)
        .set({ state: 'superseded' })
        .where(
          and(eq(deployments.appId, row.appId), eq(deployments.state, 'running'), ne(deployments.id, row.id)),
        ),
      ctx.db
        .update(apps)
        .set({
          currentDeploymentId: row.id,
          ...(data.host_port ? { hostPort: data.host_port } : {}),
          updatedAt: now,
        })
        .where(eq(apps.id, row.appId)),
    ])
  } else await update
  wakeFollowers(ctx, row)
  await kick(ctx, row.appId)
}

/** Deployments an agent was handed and never finished, long past their deadlines, fail (maintenance). */
export async function expireDeployments(ctx: ServiceContext): Promise<void> {
  const handed = await ctx.db
    .select({ dep: deployments, deadlines: apps.deadlines })
    .from(deployments)
    .innerJoin(apps, eq(apps.id, deployments.appId))
    .where(and(claimedOrActive, lt(deployments.startedAt, ctx.clock.now() - DEPLOY_GRACE_MS)))
  for (const { dep, deadlines } of handed) {
    const allowed = (deadlines.clone + deadlines.build) * 1000 + DEPLOY_GRACE_MS
    if ((dep.startedAt ?? 0) + allowed < ctx.clock.now()) {
      await finish(ctx, {
        row: dep,
        state: 'failed',
        data: { reason: 'the agent did not report the outcome in time' },
      })
    }
  }
}
