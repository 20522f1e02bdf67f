import {
  type AppSource,
  type CreateAppBody,
  newId,
  RESERVED_ENV,
  type setEnvBody,
  type updateAppBody,
} from '@berth/shared'
import { and, eq, gt, inArray, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { ActorContext, ServiceContext } from '../context.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { boundSlices } from '../db/index.ts'
import { appEnv, apps, deployments } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { generateSshKey, seal, unseal } from '../lib/crypto.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { iso, isoOrNull } from '../lib/time.ts'
import { actorLevel, assertMayReveal } from './auth.ts'
import { syncProxyQuietly } from './proxy.ts'
import { findServer } from './servers.ts'

export type AppRow = typeof apps.$inferSelect

/** An env value's encryption is bound to its app and name. */
const envContext = (appId: string, key: string) => `app-env:${appId}:${key}`
const deployKeyContext = (appId: string) => `deploy-key:${appId}`

export function toAppView(row: AppRow, { envKeys, status }: { envKeys: string[]; status: string | null }) {
  return {
    id: row.id,
    name: row.name,
    server_id: row.serverId,
    source: row.source,
    port: row.port,
    /** Where the app answers on its server, once deployed. */
    host_port: row.hostPort,
    env_keys: envKeys,
    volumes: row.volumes,
    resources: row.resources,
    instances: row.instances,
    ports: row.ports,
    health_check: row.healthCheck,
    auto_deploy: row.autoDeploy,
    deadlines: row.deadlines,
    build_resources: row.buildResources,
    /** The state of the latest deployment, or null before the first. */
    status,
    current_deployment_id: row.currentDeploymentId,
    deploy_key: row.deployKeyPublic,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }
}

const nameTaken = (name: string) =>
  new ApiError('conflict', `an app named ${name} already exists`, { code: 'app_name_taken' })

/** Cloning a file:// URL reads the agent's host; only admins may point an app there. */
function assertSourceAllowed(ctx: ActorContext, source: AppSource): void {
  if (source.type === 'git' && source.url.startsWith('file://') && actorLevel(ctx.actor) !== 'admin') {
    throw new ApiError('forbidden', 'only admins may deploy from a file:// repository on the host', {
      code: 'file_url_forbidden',
    })
  }
}

function assertNotReserved(keys: string[]): void {
  const reserved = keys.filter((k) => (RESERVED_ENV as readonly string[]).includes(k))
  if (reserved.length > 0) {
    throw new ApiError('validation_error', 'the request body is not valid', {
      details: reserved.map((k) => ({ path: `env.${k}`, message: 'set by Berth on every deploy' })),
    })
  }
}

type SettingFields = Partial<
  Pick<
    CreateAppBody,
    | 'source'
    | 'port'
    | 'volumes'
    | 'resources'
    | 'instances'
    | 'ports'
    | 'health_check'
    | 'auto_deploy'
    | 'build_resources'
  >
>

/** How the app runs and builds, from a body's fields to columns (a field left out stays undefined). */
function settingColumns<B extends SettingFields>(
  b: B,
): {
  source: B['source']
  port: B['port']
  volumes: B['volumes']
  resources: B['resources']
  instances: B['instances']
  ports: B['ports']
  healthCheck: B['health_check']
  autoDeploy: B['auto_deploy']
  buildResources: B['build_resources']
} {
  return {
    source: b.source,
    port: b.port,
    volumes: b.volumes,
    resources: b.resources,
    instances: b.instances,
    ports: b.ports,
    healthCheck: b.health_check,
    autoDeploy: b.auto_deploy,
    buildResources: b.build_resources,
  }
}

export async function findApp(ctx: ServiceContext, id: string): Promise<AppRow> {
  const [row] = await ctx.db.select().from(apps).where(eq(apps.id, id)).limit(1)
  if (!row) throw notFound('app', id)
  return row
}

async function envKeysOf(ctx: ServiceContext, appIds: string[]): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>(appIds.map((id) => [id, []]))
  for (const ids of boundSlices(appIds)) {
    const rows = await ctx.db
      .select({ appId: appEnv.appId, key: appEnv.key })
      .from(appEnv)
      .where(inArray(appEnv.appId, ids))
      .orderBy(appEnv.key)
    for (const r of rows) keys.get(r.appId)?.push(r.key)
  }
  return keys
}

/** The state of each app's latest deployment, in one query a slice of apps. */
async function latestStates(ctx: ServiceContext, appIds: string[]): Promise<Map<string, string>> {
  const states = new Map<string, string>()
  for (const ids of boundSlices(appIds)) {
    const rows = await ctx.db
      .select({ appId: deployments.appId, state: deployments.state })
      .from(deployments)
      .where(
        and(
          inArray(deployments.appId, ids),
          sql`${deployments.id} = (select max(d.id) from deployments d where d.app_id = ${deployments.appId})`,
        ),
      )
    for (const r of rows) states.set(r.appId, r.state)
  }
  return states
}

async function viewOf(ctx: ServiceContext, row: AppRow) {
  const [keys, states] = await Promise.all([envKeysOf(ctx, [row.id]), latestStates(ctx, [row.id])])
  return toAppView(row, { envKeys: keys.get(row.id) ?? [], status: states.get(row.id) ?? null })
}

export async function createApp(ctx: ActorContext, body: CreateAppBody) {
  await findServer(ctx, body.server_id)
  assertSourceAllowed(ctx, body.source)
  assertNotReserved(Object.keys(body.env))
  const now = ctx.clock.now()
  const id = newId('app')
  const sealed = await Promise.all(
    Object.entries(body.env).map(async ([key, value]) => ({
      appId: id,
      key,
      value: await seal(ctx.config.secretKey, value, envContext(id, key)),
      updatedAt: now,
    })),
  )
  const insertApp = ctx.db.insert(apps).values({
    id,
    name: body.name,
    serverId: body.server_id,
    ...settingColumns(body),
    deadlines: body.deadlines,
    createdAt: now,
    updatedAt: now,
  })
  try {
    if (sealed.length > 0)
      await ctx.db.batch([insertApp, ...sealed.map((v) => ctx.db.insert(appEnv).values(v))])
    else await insertApp
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(body.name)
    throw err
  }
  // The app's automatic domain is routed from its first deploy on.
  await syncProxyQuietly(ctx, body.server_id)
  return viewOf(ctx, await findApp(ctx, id))
}

export async function listApps(ctx: ActorContext, q: { server_id?: string; cursor?: string; limit: number }) {
  const after = decodeCursor(q.cursor)
  const rows = await ctx.db
    .select()
    .from(apps)
    .where(
      and(after ? gt(apps.id, after) : undefined, q.server_id ? eq(apps.serverId, q.server_id) : undefined),
    )
    .orderBy(apps.id)
    .limit(q.limit + 1)
  const { items, nextCursor } = toPage(rows, q.limit)
  const ids = items.map((r) => r.id)
  const [keys, states] = await Promise.all([envKeysOf(ctx, ids), latestStates(ctx, ids)])
  return {
    apps: items.map((r) => toAppView(r, { envKeys: keys.get(r.id) ?? [], status: states.get(r.id) ?? null })),
    next_cursor: nextCursor,
  }
}

export async function getApp(ctx: ActorContext, id: string) {
  return viewOf(ctx, await findApp(ctx, id))
}

export async function updateApp(
  ctx: ActorContext,
  { id, body }: { id: string; body: z.infer<typeof updateAppBody> },
) {
  const row = await findApp(ctx, id)
  if (body.source) assertSourceAllowed(ctx, body.source)
  if ((body.ports ?? row.ports).length > 0 && (body.instances ?? row.instances) > 1) {
    throw new ApiError('validation_error', 'the request body is not valid', {
      details: [{ path: 'instances', message: 'an app that publishes raw ports runs one instance' }],
    })
  }
  await ctx.db
    .update(apps)
    .set({
      ...settingColumns(body),
      deadlines: body.deadlines ? { ...row.deadlines, ...body.deadlines } : undefined,
      updatedAt: ctx.clock.now(),
    })
    .where(eq(apps.id, id))
  return viewOf(ctx, await findApp(ctx, id))
}

/**
 * Stops serving the app on its server (containers, proxy, and volumes when asked), then forgets
 * it. The server's agent must be online, unless `force`: then the app is forgotten anyway and
 * whatever it left on a server that is gone for good stays there.
 */
export async function deleteApp(
  ctx: ActorContext,
  { id, ...opts }: { id: string; volumes: boolean; force: boolean },
): Promise<void> {
  const row = await findApp(ctx, id)
  const volumes = opts.volumes ? row.volumes.map((v) => appVolumeName(row.name, v.name)) : []
  try {
    await ctx.hub.call(row.serverId, 'app.remove', { app_id: row.id, volumes }, { timeoutMs: 120_000 })
  } catch (err) {
    if (!(opts.force && err instanceof ApiError && err.kind === 'agent_offline')) throw err
  }
  await ctx.db.delete(apps).where(eq(apps.id, id))
  await syncProxyQuietly(ctx, row.serverId)
}

/** The Docker volume that holds an app's persistent volume: it carries over from deploy to deploy. */
export function appVolumeName(appName: string, volume: string): string {
  return `berth-${appName}-${volume}`
}

// ---------------------------------------------------------------- env

/** An app's env: names always; values only to callers who may reveal them and ask. */
export async function listEnv(ctx: ActorContext, { id, reveal }: { id: string; reveal: boolean }) {
  await findApp(ctx, id)
  if (reveal) assertMayReveal(ctx.actor)
  const rows = await ctx.db.select().from(appEnv).where(eq(appEnv.appId, id)).orderBy(appEnv.key)
  return {
    env: await Promise.all(
      rows.map(async (r) => ({
        key: r.key,
        value: reveal ? await unseal(ctx.config.secretKey, r.value, envContext(id, r.key)) : null,
        updated_at: iso(r.updatedAt),
      })),
    ),
  }
}

/** Merges variables into the app's env (null deletes); takes effect on the next deploy. */
export async function setEnv(
  ctx: ActorContext,
  { id, body }: { id: string; body: z.infer<typeof setEnvBody> },
) {
  await findApp(ctx, id)
  assertNotReserved(Object.keys(body.env))
  const now = ctx.clock.now()
  // Sealed first: a drizzle query is a thenable, so it must not pass through a Promise.
  const entries = await Promise.all(
    Object.entries(body.env).map(async ([key, value]) => ({
      key,
      sealed: value === null ? null : await seal(ctx.config.secretKey, value, envContext(id, key)),
    })),
  )
  const writes = entries.map(({ key, sealed }) =>
    sealed === null
      ? ctx.db.delete(appEnv).where(and(eq(appEnv.appId, id), eq(appEnv.key, key)))
      : ctx.db
          .insert(appEnv)
          .values({ appId: id, key, value: sealed, updatedAt: now })
          .onConflictDoUpdate({ target: [appEnv.appId, appEnv.key], set: { value: sealed, updatedAt: now } }),
  )
  const [first, ...rest] = writes
  if (first) await ctx.db.batch([first, ...rest])
  return listEnv(ctx, { id, reveal: false })
}

export async function deleteEnvKey(
  ctx: ActorContext,
  { id, key }: { id: string; key: string },
): Promise<void> {
  await findApp(ctx, id)
  const deleted = await ctx.db
    .delete(appEnv)
    .where(and(eq(appEnv.appId, id), eq(appEnv.key, key)))
    .returning({ key: appEnv.key })
  if (deleted.length === 0) throw notFound('env variable', key)
}

/** The app's env in clear, for a deploy. */
export async function envForDeploy(ctx: ServiceContext, id: string): Promise<Record<string, string>> {
  const rows = await ctx.db.select().from(appEnv).where(eq(appEnv.appId, id))
  const pairs = await Promise.all(
    rows.map(
      async (r) => [r.key, await unseal(ctx.config.secretKey, r.value, envContext(id, r.key))] as const,
    ),
  )
  return Object.fromEntries(pairs)
}

// ---------------------------------------------------------------- deploy key

export async function getDeployKey(ctx: ActorContext, id: string) {
  const row = await findApp(ctx, id)
  if (!row.deployKeyPublic) throw notFound('deploy key of app', id)
  return { deploy_key: { public_key: row.deployKeyPublic, created_at: isoOrNull(row.updatedAt) } }
}

/** Makes the app's ed25519 key pair, replacing any it had; only the public half is ever shown. */
export async function regenerateDeployKey(ctx: ActorContext, id: string) {
  const row = await findApp(ctx, id)
  const { publicKey, privateKey } = await generateSshKey(`berth-${row.name}`)
  const now = ctx.clock.now()
  await ctx.db
    .update(apps)
    .set({
      deployKeyPublic: publicKey,
      deployKeySecret: await seal(ctx.config.secretKey, privateKey, deployKeyContext(id)),
      updatedAt: now,
    })
    .where(eq(apps.id, id))
  return { deploy_key: { public_key: publicKey, created_at: iso(now) } }
}

export async function deployKeyForDeploy(ctx: ServiceContext, row: AppRow): Promise<string | undefined> {
  if (!row.deployKeySecret) return undefined
  return unseal(ctx.config.secretKey, row.deployKeySecret, deployKeyContext(row.id))
}
