import {
  type ContainerDetail,
  type CreateContainerBody,
  LABELS,
  newId,
  type portBinding,
  type updateContainerBody,
} from '@berth/shared'
import { and, eq, or, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { ActorContext } from '../context.ts'
import { perDatabase } from '../db/index.ts'
import { likeEscaped, likePrefix } from '../db/like.ts'
import { containers } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { iso } from '../lib/time.ts'
import { actorLevel, assertMayReveal, levelAtLeast } from './auth.ts'
import { toContainerView, toDetailView, userLabels } from './container-views.ts'
import { type ContainerRow, removeContainerRow, upsertContainers } from './inventory.ts'
import { findServer, refuseAgentOwn } from './servers.ts'
import { statsHistory } from './stats.ts'

/** Creating and recreating containers waits on Docker; more than a plain call. */
const CONTAINER_WRITE_TIMEOUT_MS = 120_000

/** A container of a server, by Berth id, Docker id (or a prefix of at least 4), or name. */
export interface ContainerRef {
  serverId: string
  ref: string
}

/** findContainer's queries: they run on every container request. */
const lookups = perDatabase((db) => {
  const lookup = (byPrefix: boolean) =>
    db
      .select()
      .from(containers)
      .where(
        and(
          eq(containers.serverId, sql.placeholder('serverId')),
          or(
            eq(containers.id, sql.placeholder('ref')),
            eq(containers.name, sql.placeholder('name')),
            eq(containers.dockerId, sql.placeholder('ref')),
            byPrefix ? likeEscaped(containers.dockerId, sql.placeholder('prefix')) : undefined,
          ),
        ),
      )
      .limit(2)
      .prepare()
  return { exact: lookup(false), byPrefix: lookup(true) }
})

/**
 * Finds a container of a server by Berth id, Docker id (or a prefix of at least 4), or name, for a
 * route that acts on it or reads it: the agent's own container only for admins.
 */
export async function findContainer(ctx: ActorContext, target: ContainerRef): Promise<ContainerRow> {
  const { serverId } = target
  const row = await lookupContainer(ctx, target)
  await refuseAgentOwn(ctx, { serverId, container: row.dockerId })
  if (row.hostAccess.length > 0 && !levelAtLeast(actorLevel(ctx.actor), 'admin')) {
    throw new ApiError('forbidden', 'only admins may reach a container that reaches its host', {
      code: 'host_container_forbidden',
      details: { host_access: row.hostAccess },
    })
  }
  return row
}

async function lookupContainer(ctx: ActorContext, { serverId, ref }: ContainerRef): Promise<ContainerRow> {
  const prepared = lookups(ctx.db)
  const values = { serverId, ref, name: ref.replace(/^\//, '') }
  const rows = /^[0-9a-f]{4,63}$/.test(ref)
    ? await prepared.byPrefix.all({ ...values, prefix: likePrefix(ref) })
    : await prepared.exact.all(values)
  const exact = rows.find((r) => r.id === ref || r.dockerId === ref || r.name === ref)
  if (exact) return exact
  if (rows.length === 1) return rows[0]!
  if (rows.length > 1)
    throw new ApiError('conflict', `more than one container matches ${ref}`, { code: 'ambiguous_container' })
  // A container row proves its server exists; without one, an unknown server is the 404 to give.
  await findServer(ctx, serverId)
  // Not in the copy yet (the agent's report may still be on its way): ask the host.
  if (!ref.startsWith('ctr_') && (await ctx.hub.online(serverId))) {
    const detail = await ctx.hub.call(serverId, 'container.inspect', { ref }).catch((err: unknown) => {
      if (err instanceof ApiError && err.kind === 'not_found') return null
      throw err
    })
    if (detail) return stored(ctx, { serverId, detail })
  }
  throw notFound('container', ref)
}

async function stored(
  ctx: ActorContext,
  { serverId, detail, tags }: { serverId: string; detail: ContainerDetail; tags?: string[] },
): Promise<ContainerRow> {
  const [row] = await upsertContainers(ctx, { serverId, reported: [detail], at: ctx.clock.now() })
  if (!row) throw new ApiError('internal', 'the container could not be recorded')
  if (tags) {
    await ctx.db.update(containers).set({ tags }).where(eq(containers.id, row.id))
    row.tags = tags
  }
  return row
}

const portRange = (server: { portRangeStart: number; portRangeEnd: number }) => ({
  start: server.portRangeStart,
  end: server.portRangeEnd,
})

function berthLabels(id: string, tags: string[], labels: Record<string, string>): Record<string, string> {
  return {
    ...userLabels(labels),
    [LABELS.id]: id,
    [LABELS.tags]: JSON.stringify(tags),
    [LABELS.managed]: 'true',
  }
}

export async function createContainer(
  ctx: ActorContext,
  { serverId, body: input }: { serverId: string; body: CreateContainerBody },
) {
  const server = await findServer(ctx, serverId)
  const hostPaths = input.volumes.filter((v) => v.source.startsWith('/'))
  if (hostPaths.length > 0 && !levelAtLeast(actorLevel(ctx.actor), 'admin')) {
    throw new ApiError('forbidden', 'only admins may mount host paths; use a named volume', {
      code: 'host_path_forbidden',
      details: { sources: hostPaths.map((v) => v.source) },
    })
  }
  await refuseAgentOwn(ctx, {
    serverId,
    volumes: input.volumes.filter((v) => !v.source.startsWith('/')).map((v) => v.source),
  })
  const reserved = Object.keys(input.labels).filter((k) => k.startsWith('berth.'))
  if (reserved.length > 0) {
    throw new ApiError('validation_error', 'labels starting with berth. are Berth’s own', {
      details: reserved.map((k) => ({ path: `labels.${k}`, message: 'reserved' })),
    })
  }
  const id = newId('container', ctx.clock.now())
  const detail = await ctx.hub.call(
    serverId,
    'container.create',
    {
      berth_id: id,
      name: input.name,
      image: input.image,
      cmd: input.cmd,
      entrypoint: input.entrypoint,
      working_dir: input.working_dir,
      env: input.env,
      labels: berthLabels(id, input.tags, input.labels),
      resources: input.resources,
      ports: input.ports,
      port_range: portRange(server),
      volumes: input.volumes,
      network: input.network,
      restart: input.restart,
      start: input.start,
      ...(levelAtLeast(actorLevel(ctx.actor), 'admin') ? {} : { contained: true as const }),
    },
    { timeoutMs: CONTAINER_WRITE_TIMEOUT_MS },
  )
  const row = await stored(ctx, { serverId, detail, tags: input.tags })
  return toDetailView(row, { detail, reveal: true })
}

export async function getContainer(ctx: ActorContext, input: ContainerRef & { reveal: boolean }) {
  const { serverId, ref, reveal } = input
  if (reveal) assertMayReveal(ctx.actor)
  const inspect = (dockerRef: string) =>
    ctx.hub.call(serverId, 'container.inspect', { ref: dockerRef }).then(
      (detail) => ({ detail }),
      (err: unknown) => ({ err }),
    )
  // A Docker id or name goes to the host while the copy is read, so the two waits overlap; the
  // copy's row still decides which container it is, and a host that answered for another is asked again.
  const early = ref.startsWith('ctr_') ? null : inspect(ref)
  const row = await findContainer(ctx, { serverId, ref })
  const first = early && (await early)
  // Asked (again) by the row's Docker id unless the first answer was for this container, or said the agent is away.
  const settled =
    first && ('detail' in first ? first.detail.docker_id === row.dockerId : isOffline(first.err))
  const answer = settled ? first : await inspect(row.dockerId)
  // Docker events keep the row current; a read does not write.
  if ('detail' in answer) return { ...toDetailView(row, { detail: answer.detail, reveal }), stale: false }
  if (isOffline(answer.err)) return { ...toContainerView(row), stale: true }
  throw answer.err
}

const isOffline = (err: unknown) => err instanceof ApiError && err.kind === 'agent_offline'

export async function updateContainer(
  ctx: ActorContext,
  { serverId, ref, changes: input }: ContainerRef & { changes: z.infer<typeof updateContainerBody> },
) {
  const server = await findServer(ctx, serverId)
  let row = await findContainer(ctx, { serverId, ref })
  let detail: ContainerDetail | undefined
  if (input.resources) {
    detail = await ctx.hub.call(serverId, 'container.update', {
      ref: row.dockerId,
      resources: input.resources,
    })
  }
  const tags = input.tags ?? row.tags
  const recreate = input.env !== undefined || input.image !== undefined
  if (recreate) {
    const current = detail ?? (await ctx.hub.call(serverId, 'container.inspect', { ref: row.dockerId }))
    let env: Record<string, string> | undefined
    if (input.env) {
      env = { ...current.env }
      for (const [key, value] of Object.entries(input.env)) {
        if (value === null) delete env[key]
        else env[key] = value
      }
    }
    detail = await ctx.hub.call(
      serverId,
      'container.recreate',
      {
        ref: row.dockerId,
        image: input.image,
        env,
        labels: row.managed ? berthLabels(row.id, tags, current.labels) : undefined,
        port_range: portRange(server),
      },
      { timeoutMs: CONTAINER_WRITE_TIMEOUT_MS },
    )
  }
  detail ??= await ctx.hub.call(serverId, 'container.inspect', { ref: row.dockerId })
  row = await stored(ctx, { serverId, detail, tags })
  return { container: toDetailView(row, { detail, reveal: false }), recreated: recreate }
}

export async function replacePorts(
  ctx: ActorContext,
  { serverId, ref, ports }: ContainerRef & { ports: z.infer<typeof portBinding>[] },
) {
  const server = await findServer(ctx, serverId)
  const row = await findContainer(ctx, { serverId, ref })
  const detail = await ctx.hub.call(
    serverId,
    'container.recreate',
    { ref: row.dockerId, ports, port_range: portRange(server) },
    { timeoutMs: CONTAINER_WRITE_TIMEOUT_MS },
  )
  return {
    container: toDetailView(await stored(ctx, { serverId, detail }), { detail, reveal: false }),
    recreated: true,
  }
}

export type ContainerAction = 'start' | 'stop' | 'restart' | 'pause' | 'unpause' | 'kill'

export async function containerAction(
  ctx: ActorContext,
  {
    serverId,
    ref,
    action,
    ...opts
  }: ContainerRef & { action: ContainerAction; timeout?: number; signal?: string },
) {
  const row = await findContainer(ctx, { serverId, ref })
  const detail = await ctx.hub.call(
    serverId,
    'container.action',
    { ref: row.dockerId, action, ...opts },
    { timeoutMs: CONTAINER_WRITE_TIMEOUT_MS + (opts.timeout ?? 10) * 1000 },
  )
  return toDetailView(await stored(ctx, { serverId, detail }), { detail, reveal: false })
}

export async function removeContainer(
  ctx: ActorContext,
  { serverId, ref, force, volumes }: ContainerRef & { force: boolean; volumes: boolean },
) {
  const row = await findContainer(ctx, { serverId, ref })
  await ctx.hub.call(
    serverId,
    'container.remove',
    { ref: row.dockerId, force, volumes },
    { timeoutMs: CONTAINER_WRITE_TIMEOUT_MS },
  )
  await removeContainerRow(ctx, { serverId, dockerId: row.dockerId })
}

export async function containerStatsNow(ctx: ActorContext, { serverId, ref }: ContainerRef) {
  const row = await findContainer(ctx, { serverId, ref })
  const s = await ctx.hub.call(serverId, 'container.stats', { ref: row.dockerId })
  return {
    container_id: row.id,
    at: iso(s.at),
    cpu: { percent: s.cpu_pct, limit: s.cpu_limit },
    memory: { used: s.mem_used, limit: s.mem_limit },
    network: { rx: s.net_rx, tx: s.net_tx },
    block_io: { read: s.blk_read, write: s.blk_write },
    pids: s.pids,
  }
}

export async function containerStatsHistory(
  ctx: ActorContext,
  { serverId, ref, since }: ContainerRef & { since?: number },
) {
  const row = await findContainer(ctx, { serverId, ref })
  return { container_id: row.id, samples: await statsHistory(ctx, { containerId: row.id, since }) }
}
