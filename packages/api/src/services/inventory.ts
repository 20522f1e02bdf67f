import { type ContainerSummary, containerEvent, inventoryEvent, LABELS, newId } from '@berth/shared'
import { and, eq, inArray, ne, or } from 'drizzle-orm'
import type { ServiceContext } from '../context.ts'
import { BOUND_VALUES, boundSlices } from '../db/index.ts'
import { containers } from '../db/schema.ts'
import type { AgentEventFrame } from '../hub/hub.ts'
import { log } from '../lib/log.ts'
import { recordAppEvent } from './app-health.ts'
import { recordProxyState } from './proxy.ts'

export type ContainerRow = typeof containers.$inferSelect

const BERTH_ID = /^ctr_[0-9a-z]{26}$/

/** Tags as Berth wrote them into a container's label. */
export function tagsFromLabels(labels: Record<string, string>): string[] {
  try {
    const parsed: unknown = JSON.parse(labels[LABELS.tags] ?? '[]')
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === 'string') : []
  } catch {
    return []
  }
}

/** What an agent reported of some of its server's containers, and when. */
export interface ContainerReport {
  serverId: string
  reported: ContainerSummary[]
  at: number
}

/**
 * Writes what an agent reported of some containers into the API's copy. A container Berth made
 * keeps its Berth id (from its label) across recreations; a report about the older container of
 * a recreation, arriving late, does not overwrite the newer one. Tags are the API's once known.
 */
export async function upsertContainers(
  ctx: ServiceContext,
  { serverId, reported, at: observedAt }: ContainerReport,
): Promise<ContainerRow[]> {
  if (reported.length === 0) return []
  const labelled = reported
    .map((c) => c.labels[LABELS.id])
    .filter((id): id is string => !!id && BERTH_ID.test(id))
  // A label naming another server's container claims nothing: an agent speaks for its own server.
  const foreign = await foreignContainerIds(ctx, { serverId, ids: labelled })
  if (foreign.size > 0) {
    log.warn(
      `server ${serverId} reported containers labelled with ids of other servers: ${[...foreign].join(', ')}`,
    )
  }
  const berthIds = labelled.filter((id) => !foreign.has(id))
  const dockerIds = reported.map((c) => c.docker_id)
  // D1 binds at most 100 values a statement: a large report reads the server's whole copy instead.
  const few = dockerIds.length + berthIds.length <= BOUND_VALUES
  const existing = await ctx.db
    .select()
    .from(containers)
    .where(
      and(
        eq(containers.serverId, serverId),
        !few
          ? undefined
          : berthIds.length > 0
            ? or(inArray(containers.dockerId, dockerIds), inArray(containers.id, berthIds))
            : inArray(containers.dockerId, dockerIds),
      ),
    )
  const byId = new Map(existing.map((r) => [r.id, r]))
  const byDockerId = new Map(existing.map((r) => [r.dockerId, r]))
  const rows: ContainerRow[] = []
  for (const c of reported) {
    const labelId = c.labels[LABELS.id]
    const berthId = labelId && BERTH_ID.test(labelId) && !foreign.has(labelId) ? labelId : null
    const current = (berthId ? byId.get(berthId) : undefined) ?? byDockerId.get(c.docker_id)
    if (current && current.dockerId !== c.docker_id && current.dockerCreatedAt > c.created_at) continue
    const row: ContainerRow = {
      id: berthId ?? current?.id ?? newId('container', observedAt),
      serverId,
      dockerId: c.docker_id,
      name: c.name,
      image: c.image,
      status: c.status,
      exitCode: c.exit_code,
      health: c.health,
      ports: c.ports,
      labels: c.labels,
      tags: current?.tags ?? tagsFromLabels(c.labels),
      managed: c.labels[LABELS.managed] === 'true',
      hostAccess: c.host_access ?? [],
      dockerCreatedAt: c.created_at,
      startedAt: c.started_at,
      finishedAt: c.finished_at,
      observedAt,
    }
    rows.push(row)
  }
  if (rows.length === 0) return []
  const writes = rows.map((row) => {
    const { id: _id, serverId: _s, tags: _t, ...changes } = row
    // A Berth container is known by its id; any other by its Docker id, so two reports of a new
    // one racing each other (an event and a lookup) make one row, not a conflict.
    const target =
      row.labels[LABELS.id] === row.id ? containers.id : [containers.serverId, containers.dockerId]
    // The server condition holds a row another server wrote between the check above and this write.
    return ctx.db
      .insert(containers)
      .values(row)
      .onConflictDoUpdate({ target, set: changes, setWhere: eq(containers.serverId, serverId) })
      .returning()
  })
  // A row under another id that holds one of these Docker ids is an old copy of the same container.
  const superseded = existing.filter((r) =>
    rows.some((row) => row.dockerId === r.dockerId && row.id !== r.id),
  )
  if (superseded.length > 0) {
    await ctx.db.delete(containers).where(
      inArray(
        containers.id,
        superseded.map((r) => r.id),
      ),
    )
  }
  const written = await ctx.db.batch(writes as [(typeof writes)[number], ...(typeof writes)[number][]])
  return written.flat()
}

/** The Berth ids among `ids` that are rows of a server other than `serverId`. */
async function foreignContainerIds(
  ctx: ServiceContext,
  { serverId, ids }: { serverId: string; ids: string[] },
): Promise<Set<string>> {
  const foreign = new Set<string>()
  for (const slice of boundSlices([...new Set(ids)])) {
    const rows = await ctx.db
      .select({ id: containers.id })
      .from(containers)
      .where(and(inArray(containers.id, slice), ne(containers.serverId, serverId)))
    for (const r of rows) foreign.add(r.id)
  }
  return foreign
}

export async function removeContainerRow(
  ctx: ServiceContext,
  { serverId, dockerId }: { serverId: string; dockerId: string },
): Promise<void> {
  await ctx.db
    .delete(containers)
    .where(and(eq(containers.serverId, serverId), eq(containers.dockerId, dockerId)))
}

/** A full inventory: the copy becomes exactly what the agent has. */
async function applyInventory(ctx: ServiceContext, report: ContainerReport) {
  const { serverId, reported } = report
  await upsertContainers(ctx, report)
  const present = new Set(reported.map((c) => c.docker_id))
  const stored = await ctx.db
    .select({ id: containers.id, dockerId: containers.dockerId })
    .from(containers)
    .where(eq(containers.serverId, serverId))
  const gone = stored.filter((r) => !present.has(r.dockerId)).map((r) => r.id)
  for (const ids of boundSlices(gone)) await ctx.db.delete(containers).where(inArray(containers.id, ids))
}

/** Takes in an event frame from an agent. */
export async function recordAgentEvent(
  ctx: ServiceContext,
  { serverId, event, at }: { serverId: string; event: AgentEventFrame; at: number },
) {
  switch (event.kind) {
    case 'inventory': {
      const parsed = inventoryEvent.safeParse(event.data)
      if (parsed.success) await applyInventory(ctx, { serverId, reported: parsed.data.containers, at })
      else log.warn(`server ${serverId} sent an inventory that does not parse`)
      return
    }
    case 'container': {
      const parsed = containerEvent.safeParse(event.data)
      if (!parsed.success) {
        log.warn(`server ${serverId} sent a container event that does not parse`)
        return
      }
      const { docker_id, container } = parsed.data
      if (container) await upsertContainers(ctx, { serverId, reported: [container], at })
      else await removeContainerRow(ctx, { serverId, dockerId: docker_id })
      return
    }
    case 'app.health':
    case 'app.restarted':
      await recordAppEvent(ctx, { serverId, kind: event.kind, data: event.data })
      return
    case 'proxy.state':
      await recordProxyState(ctx, { serverId, data: event.data })
      return
    default:
      // Kinds from newer agents are ignored.
      return
  }
}
