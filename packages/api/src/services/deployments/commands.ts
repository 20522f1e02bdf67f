import { ACTIVE_STATES, newId } from '@berth/shared'
import { and, desc, eq, inArray, isNotNull, isNull, lt, ne, or, sql } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../../context.ts'
import { type DeploymentSource, deployments } from '../../db/schema.ts'
import { ApiError, notFound } from '../../errors.ts'
import { type AppRow, findApp } from '../apps.ts'
import { sendUpload } from '../uploads.ts'
import { wakeFollowers } from './follow.ts'
import { finish, kick } from './queue.ts'
import { type DeploymentRow, type DeploymentView, findDeployment, isFinal, toDeploymentView } from './read.ts'

type Trigger = DeploymentRow['trigger']

export interface DeployRequest {
  app: AppRow
  trigger: Trigger
  createdBy: string | null
  /** A branch, tag or commit to build instead of the app's branch. */
  ref?: string
  /** An image to run instead of the app's. */
  image?: string
  /** The bytes of an uploaded tarball: sent to the agent before the deployment is queued. */
  upload?: Uint8Array
  rollbackOf?: { id: string; image: string }
  /** Queue nothing when `ref` (a commit) is the app's current deployment or already queued or under way. */
  onlyNewCommit?: boolean
}

function sourceFor(id: string, req: DeployRequest): DeploymentSource {
  if (req.rollbackOf) return { type: 'prebuilt', image: req.rollbackOf.image }
  const source = req.app.source
  switch (source.type) {
    case 'image':
      if (req.ref) throw badDeploy('ref', 'an image app has no branch to build')
      return { type: 'image', image: req.image ?? source.image }
    case 'git':
      if (req.image) throw badDeploy('image', 'a git app builds its image')
      return {
        type: 'git',
        url: source.url,
        ref: req.ref ?? source.branch,
        dockerfile: source.dockerfile,
        context: source.context,
        ssh: !/^(https?|file|git):\/\//.test(source.url),
      }
    case 'upload':
      if (!req.upload) {
        throw new ApiError('validation_error', 'an upload app deploys from a tar.gz sent with the request', {
          code: 'upload_required',
        })
      }
      return { type: 'upload', upload_id: id, bytes: req.upload.length }
  }
}

const badDeploy = (path: string, message: string) =>
  new ApiError('validation_error', 'the request body is not valid', { details: [{ path, message }] })

/**
 * Queues a deployment of an app and starts it when nothing else of the app runs and its server
 * is online. An upload is handed to the agent first, so it is on the host when its turn comes.
 */
export async function createDeployment(ctx: ServiceContext, req: DeployRequest) {
  const { app } = req
  const id = newId('deployment')
  const source = sourceFor(id, req)
  if (req.upload) await sendUpload(ctx, { serverId: app.serverId, id, bytes: req.upload })
  const now = ctx.clock.now()
  await ctx.db.insert(deployments).values({
    id,
    appId: app.id,
    serverId: app.serverId,
    state: 'queued',
    trigger: req.trigger,
    source,
    rollbackOf: req.rollbackOf?.id ?? null,
    createdBy: req.createdBy,
    createdAt: now,
  })
  if (req.onlyNewCommit && req.ref) {
    // Checked after the insert, so of two requests racing for one commit the later one sees the other.
    const other = await findDeploymentOfCommit(ctx, { app, sha: req.ref, before: id })
    if (other) {
      await ctx.db.delete(deployments).where(eq(deployments.id, id))
      const what = other.state === 'running' ? 'deployed' : other.state
      throw new ApiError('conflict', `commit ${req.ref} is already ${what}`, {
        code: 'commit_already_deployed',
      })
    }
  }
  await kick(ctx, app.id)
  return toDeploymentView(await findDeployment(ctx, id))
}

/**
 * The app's deployment of commit `sha` that makes another one pointless: its current deployment,
 * or one queued before `before` or under way (asked for at that commit, or resolved to it).
 */
async function findDeploymentOfCommit(
  ctx: ServiceContext,
  { app, sha, before }: { app: AppRow; sha: string; before: string },
) {
  const [row] = await ctx.db
    .select({ id: deployments.id, state: deployments.state })
    .from(deployments)
    .where(
      and(
        eq(deployments.appId, app.id),
        or(eq(deployments.commitSha, sha), sql`json_extract(${deployments.source}, '$.ref') = ${sha}`),
        or(
          app.currentDeploymentId ? eq(deployments.id, app.currentDeploymentId) : undefined,
          and(inArray(deployments.state, ['queued', ...ACTIVE_STATES]), lt(deployments.id, before)),
        ),
      ),
    )
    .limit(1)
  return row ?? null
}

/** A user's deploy of an app: of its source, or at `ref`, of `image`, or of an uploaded tarball. */
export async function deployApp(
  ctx: ActorContext,
  input: { appId: string } & Pick<DeployRequest, 'ref' | 'image' | 'upload'>,
) {
  const { appId, ...body } = input
  const app = await findApp(ctx, appId)
  return createDeployment(ctx, { app, trigger: 'manual', createdBy: ctx.actor.userId, ...body })
}

/** Stops a deployment before it serves. One still waiting is cancelled here; one on the agent, there. */
export async function cancelDeployment(ctx: ActorContext, id: string): Promise<DeploymentView> {
  const row = await findDeployment(ctx, id)
  if (isFinal(row.state)) {
    throw new ApiError('state_error', `the deployment is already ${row.state}`, {
      code: 'deployment_finished',
    })
  }
  const now = ctx.clock.now()
  const waiting = await ctx.db
    .update(deployments)
    .set({ state: 'cancelled', reason: 'cancelled before it started', finishedAt: now })
    .where(and(eq(deployments.id, id), eq(deployments.state, 'queued'), isNull(deployments.startedAt)))
    .returning({ id: deployments.id })
  if (waiting.length > 0) wakeFollowers(ctx, row)
  if (waiting.length === 0) {
    const { found } = await ctx.hub.call(row.serverId, 'deploy.cancel', { deployment_id: id })
    if (!found) {
      const fresh = await findDeployment(ctx, id)
      if (!isFinal(fresh.state))
        await finish(ctx, { row: fresh, state: 'cancelled', data: { reason: 'cancelled' } })
    }
  }
  return toDeploymentView(await findDeployment(ctx, id))
}

/** Deploys a previous successful deployment's image again, without building. */
export async function rollback(ctx: ActorContext, input: { appId: string; to?: string }) {
  const { appId, to } = input
  const app = await findApp(ctx, appId)
  const served = inArray(deployments.state, ['running', 'superseded'])
  const [target] = to
    ? await ctx.db
        .select()
        .from(deployments)
        .where(and(eq(deployments.id, to), eq(deployments.appId, appId)))
        .limit(1)
    : await ctx.db
        .select()
        .from(deployments)
        .where(
          and(
            eq(deployments.appId, appId),
            served,
            isNotNull(deployments.image),
            app.currentDeploymentId ? ne(deployments.id, app.currentDeploymentId) : undefined,
          ),
        )
        .orderBy(desc(deployments.id))
        .limit(1)
  if (to && !target) throw notFound('deployment', to)
  if (!target) {
    throw new ApiError('state_error', 'the app has no earlier successful deployment to roll back to', {
      code: 'nothing_to_roll_back',
    })
  }
  if (!target.image || (target.state !== 'running' && target.state !== 'superseded')) {
    throw new ApiError(
      'state_error',
      `deployment ${target.id} never served, so there is no image to go back to`,
      {
        code: 'not_a_successful_deployment',
      },
    )
  }
  return createDeployment(ctx, {
    app,
    trigger: 'rollback',
    createdBy: ctx.actor.userId,
    rollbackOf: { id: target.id, image: target.image },
  })
}
