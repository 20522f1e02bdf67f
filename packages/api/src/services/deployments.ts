import {
  ACTIVE_STATES,
  type DeployArgs,
  type DeployJobData,
  type DeploymentState,
  deployJobData,
  FINAL_STATES,
  type LogLine,
  newId,
} from '@berth/shared'
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, max, ne, or, sql } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../context.ts'
import { apps, type DeploymentSource, deploymentLogs, deployments } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { log } from '../lib/log.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { iso, isoOrNull } from '../lib/time.ts'
import { type AppRow, appVolumeName, deployKeyForDeploy, envForDeploy, findApp } from './apps.ts'
import { findServer } from './servers.ts'
import { sendUpload } from './uploads.ts'

export type DeploymentRow = typeof deployments.$inferSelect
type Trigger = DeploymentRow['trigger']

/** Lines a deployment keeps; later output is dropped (the agent narrates the outcome in a system line first). */
export const MAX_LOG_LINES = 10_000
/** Lines per stored chunk, so a chunk stays well under a row's size limit. */
const CHUNK_LINES = 100
/** How long deploy.start may take to be acknowledged. */
const DISPATCH_TIMEOUT_MS = 30_000
/** On top of a deployment's stage deadlines, before the API gives up on an agent that never reports. */
const DEPLOY_GRACE_MS = 15 * 60_000

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
const isFinal = (state: DeploymentState) => (FINAL_STATES as readonly string[]).includes(state)

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

export interface DeployRequest {
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

function sourceFor(app: AppRow, id: string, req: DeployRequest): DeploymentSource {
  if (req.rollbackOf) return { type: 'prebuilt', image: req.rollbackOf.image }
  const source = app.source
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
export async function createDeployment(ctx: ServiceContext, app: AppRow, req: DeployRequest) {
  const id = newId('deployment')
  const source = sourceFor(app, id, req)
  if (req.upload) await sendUpload(ctx, app.serverId, id, req.upload)
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
    const other = await findDeploymentOfCommit(ctx, app, req.ref, id)
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
async function findDeploymentOfCommit(ctx: ServiceContext, app: AppRow, sha: string, before: string) {
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

/** A deployment the agent has been handed (or is being handed): at most one per app. */
const claimedOrActive = or(
  inArray(deployments.state, [...ACTIVE_STATES]),
  and(eq(deployments.state, 'queued'), isNotNull(deployments.startedAt)),
)

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
        sql`not exists (select 1 from deployments d where d.app_id = ${appId} and (d.state in ('cloning', 'building', 'deploying') or (d.state = 'queued' and d.started_at is not null)))`,
      ),
    )
    .returning({ id: deployments.id })
  if (claimed.length === 0) return
  try {
    const app = await findApp(ctx, appId)
    const args = await deployArgs(ctx, app, next)
    await ctx.hub.call(next.serverId, 'deploy.start', args, { timeoutMs: DISPATCH_TIMEOUT_MS })
  } catch (err) {
    if (err instanceof ApiError && (err.kind === 'agent_offline' || err.kind === 'timeout')) {
      // Not handed over: it waits for the agent to come back.
      await ctx.db.update(deployments).set({ startedAt: null }).where(eq(deployments.id, next.id))
      return
    }
    const reason = err instanceof ApiError ? err.message : 'the deployment could not be started'
    if (!(err instanceof ApiError)) log.error(`deployment ${next.id} could not be started`, err)
    await finish(ctx, next, 'failed', { reason })
  }
}

async function deployArgs(ctx: ServiceContext, app: AppRow, dep: DeploymentRow): Promise<DeployArgs> {
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
    },
    deadlines: { clone_ms: app.deadlines.clone * 1000, build_ms: app.deadlines.build * 1000 },
    mask: [...Object.values(secrets), ...(sshKey ? [sshKey] : [])].filter((v) => v.length >= 3),
  }
}

export const imageTag = (appName: string, deploymentId: string) => `berth/${appName}:${deploymentId}`

// ---------------------------------------------------------------- what agents report

/** A `job` frame from a server's agent: a deployment's progress, outcome and output. */
export async function recordJob(
  ctx: ServiceContext,
  serverId: string,
  jobId: string,
  state: string,
  rawData: unknown,
): Promise<void> {
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
  await applyJob(ctx, row, state as DeploymentState, parsed.data)
}

async function applyJob(
  ctx: ServiceContext,
  row: DeploymentRow,
  state: DeploymentState,
  data: DeployJobData,
): Promise<void> {
  try {
    await applyReport(ctx, row, state, data)
  } finally {
    wakeFollowers(ctx, row)
  }
}

async function applyReport(
  ctx: ServiceContext,
  row: DeploymentRow,
  state: DeploymentState,
  data: DeployJobData,
): Promise<void> {
  if (data.logs?.length) await storeLogs(ctx, row.id, data.logs)
  if (!(state in STAGE) || isFinal(row.state) || STAGE[state] < STAGE[row.state]) return
  if (isFinal(state)) {
    await finish(ctx, row, state, data)
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

/** Ends a deployment. Running: it replaces the app's serving deployment. Then the app's next in line starts. */
async function finish(
  ctx: ServiceContext,
  row: DeploymentRow,
  state: DeploymentState,
  data: DeployJobData,
): Promise<void> {
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

async function storeLogs(ctx: ServiceContext, deploymentId: string, lines: LogLine[]): Promise<void> {
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
      if (job) await applyJob(ctx, row, job.state, job)
      else if (row.state === 'queued') {
        // Claimed but never received: hand it over again.
        await ctx.db.update(deployments).set({ startedAt: null }).where(eq(deployments.id, row.id))
      } else {
        await ctx.hub.call(serverId, 'deploy.cleanup', {
          deployment_id: row.id,
          image_tag: imageTag((await findApp(ctx, row.appId)).name, row.id),
        })
        await finish(ctx, row, 'failed', {
          reason: 'the agent stopped during the deployment (its process or host restarted)',
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
      await finish(ctx, dep, 'failed', { reason: 'the agent did not report the outcome in time' })
    }
  }
}

// ---------------------------------------------------------------- user actions

export async function listDeployments(
  ctx: ActorContext,
  appId: string,
  page: { cursor?: string; limit: number },
) {
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
      if (!isFinal(fresh.state)) await finish(ctx, fresh, 'cancelled', { reason: 'cancelled' })
    }
  }
  return toDeploymentView(await findDeployment(ctx, id))
}

/** Deploys a previous successful deployment's image again, without building. */
export async function rollback(ctx: ActorContext, appId: string, to: string | undefined) {
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
  return createDeployment(ctx, app, {
    trigger: 'rollback',
    createdBy: ctx.actor.userId,
    rollbackOf: { id: target.id, image: target.image },
  })
}

/** A deployment's stored output after line `after` (-1 for all). */
export async function deploymentLines(ctx: ServiceContext, id: string, after: number): Promise<LogLine[]> {
  const chunks = await ctx.db
    .select({ lines: deploymentLogs.lines })
    .from(deploymentLogs)
    .where(and(eq(deploymentLogs.deploymentId, id), gt(deploymentLogs.lastSeq, after)))
    .orderBy(asc(deploymentLogs.firstSeq))
  return chunks.flatMap((c) => c.lines).filter((l) => l.seq > after)
}

// ---------------------------------------------------------------- following output

export type DeploymentEvent =
  | { type: 'log'; line: LogLine }
  | { type: 'state'; state: DeploymentState; reason: string | null }
  | { type: 'end'; state: DeploymentState; reason: string | null }

interface Follower {
  after: number
  state: string
  events: DeploymentEvent[]
  failure: ApiError | null
  wake: (() => void) | null
}

/**
 * The followers of one deployment in this process, served by one read at a time, woken through
 * one watch of the deployment's writes (`Hub.watchDeployment`), held on behalf of one of them.
 */
interface Feed {
  followers: Set<Follower>
  reading: boolean
  again: boolean
  readAt: number
  /** Known from the first read: whose agent reports the deployment, where its writes are watched. */
  serverId: string | null
  watch: { by: Follower; end: () => void } | null
  /** The watch hears every write: followers wait for it alone, with no fallback read. */
  live: boolean
}

const feeds = new Map<string, Feed>()

/** Called by each write of a deployment's lines or state, so its followers, wherever they are, read it. */
function wakeFollowers(ctx: ServiceContext, row: { id: string; serverId: string }): void {
  ctx.hub.deploymentWritten(row.serverId, row.id)
}

function notify(follower: Follower): void {
  const wake = follower.wake
  follower.wake = null
  wake?.()
}

/**
 * Watches the deployment's writes for the feed, from a follower's own task (on Workers a stream
 * belongs to the request that opened it). A lost watch leaves the followers on the fallback read,
 * which watches again.
 */
function watchFeed(ctx: ServiceContext, id: string, feed: Feed, by: Follower): void {
  if (feed.watch || !feed.serverId) return
  const watch: Feed['watch'] = {
    by,
    end: ctx.hub.watchDeployment(feed.serverId, id, {
      written: () => {
        if (feed.watch === watch) void readFeed(ctx, id, feed)
      },
      // What was written before the watch was in place is read now.
      inPlace: () => {
        if (feed.watch !== watch) return
        feed.live = true
        void readFeed(ctx, id, feed)
      },
      lost: () => unwatchFeed(feed, watch),
    }),
  }
  feed.watch = watch
}

function unwatchFeed(feed: Feed, watch: Feed['watch']): void {
  if (!watch || feed.watch !== watch) return
  watch.end()
  feed.watch = null
  feed.live = false
  for (const f of feed.followers) notify(f)
}

/** Reads what changed once for every follower of a deployment; a read asked for meanwhile runs after. */
async function readFeed(ctx: ServiceContext, id: string, feed: Feed): Promise<void> {
  if (feed.reading) {
    feed.again = true
    return
  }
  if (feed.followers.size === 0) return
  feed.reading = true
  try {
    do {
      feed.again = false
      feed.readAt = Date.now()
      const after = Math.min(...[...feed.followers].map((f) => f.after))
      // State first, then lines: lines written before a final state are all read after seeing it.
      const row = await findDeployment(ctx, id)
      feed.serverId = row.serverId
      const lines = await deploymentLines(ctx, id, after)
      for (const f of feed.followers) {
        for (const line of lines) {
          if (line.seq <= f.after) continue
          f.events.push({ type: 'log', line })
          f.after = line.seq
        }
        if (row.state !== f.state) {
          f.state = row.state
          f.events.push({ type: 'state', state: row.state, reason: row.reason })
        }
        if (isFinal(row.state)) f.events.push({ type: 'end', state: row.state, reason: row.reason })
        notify(f)
      }
    } while (feed.again && feed.followers.size > 0)
  } catch (err) {
    const failure = err instanceof ApiError ? err : null
    if (!failure) log.error(`reading the output of deployment ${id} failed`, err)
    for (const f of feed.followers) {
      // A deployment gone (its app deleted) ends its follows; anything else is tried again.
      if (failure?.kind === 'not_found') f.failure = failure
      notify(f)
    }
  } finally {
    feed.reading = false
  }
}

/**
 * A deployment's output from line `after` on, then its state as it moves, then `end` once it is
 * over. Woken by the writes that feed it, wherever they are made; read every `followFallbackMs`
 * only while that watch is not in place. Ends early, throwing `why`, when stopped with one.
 */
export function followDeploymentLogs(
  ctx: ServiceContext,
  input: { id: string; after: number },
): AsyncIterable<DeploymentEvent> & { stop(why?: ApiError): void } {
  const follower: Follower = { after: input.after, state: '', events: [], failure: null, wake: null }
  let stopped = false
  return {
    stop(why) {
      stopped = true
      if (why) follower.failure = why
      notify(follower)
    },
    async *[Symbol.asyncIterator]() {
      let feed = feeds.get(input.id)
      if (!feed) {
        feed = {
          followers: new Set(),
          reading: false,
          again: false,
          readAt: 0,
          serverId: null,
          watch: null,
          live: false,
        }
        feeds.set(input.id, feed)
      }
      feed.followers.add(follower)
      try {
        void readFeed(ctx, input.id, feed)
        while (!stopped || follower.failure) {
          const event = follower.events.shift()
          if (event) {
            yield event
            if (event.type === 'end') return
            continue
          }
          if (follower.failure) throw follower.failure
          watchFeed(ctx, input.id, feed, follower)
          let timer: ReturnType<typeof setTimeout> | undefined
          await new Promise<void>((resolve) => {
            follower.wake = resolve
            if (!feed.live) timer = setTimeout(resolve, ctx.config.followFallbackMs)
          })
          clearTimeout(timer)
          follower.wake = null
          if (
            !feed.live &&
            follower.events.length === 0 &&
            Date.now() - feed.readAt >= ctx.config.followFallbackMs
          ) {
            void readFeed(ctx, input.id, feed)
          }
        }
      } finally {
        feed.followers.delete(follower)
        // The watch was held for this follower: another one still here watches again.
        if (feed.watch?.by === follower) unwatchFeed(feed, feed.watch)
        if (feed.followers.size === 0 && feeds.get(input.id) === feed) feeds.delete(input.id)
      }
    },
  }
}
