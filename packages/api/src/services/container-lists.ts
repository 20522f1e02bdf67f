import type { allContainersQuery, ContainerView, containerListQuery } from '@berth/shared'
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { ServiceContext } from '../context.ts'
import { boundSlices } from '../db/index.ts'
import { likeEscaped, likePrefix } from '../db/like.ts'
import { containers } from '../db/schema.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { toContainerView } from './container-views.ts'
import { findServer } from './servers.ts'

// Lists of containers from the API's copy (kept current by the agents' Docker events), and
// what changed in one since it was last read, for the realtime feeds of a containers table.

type ListQuery = z.infer<typeof containerListQuery>

/** A page of the copy, of one server or of every server, in id order. */
async function pageOfContainers(
  ctx: ServiceContext,
  { serverId, query }: { serverId?: string; query: ListQuery },
) {
  const after = decodeCursor(query.cursor)
  const rows = await ctx.db
    .select()
    .from(containers)
    .where(
      and(
        serverId === undefined ? undefined : eq(containers.serverId, serverId),
        after ? gt(containers.id, after) : undefined,
        query.status?.length ? inArray(containers.status, query.status) : undefined,
        query.tag
          ? sql`exists (select 1 from json_each(${containers.tags}) where value = ${query.tag})`
          : undefined,
        query.name ? likeEscaped(containers.name, likePrefix(query.name)) : undefined,
      ),
    )
    .orderBy(asc(containers.id))
    .limit(query.limit + 1)
  const { items, nextCursor } = toPage(rows, query.limit)
  return { containers: items.map(toContainerView), next_cursor: nextCursor }
}

export async function listContainers(
  ctx: ServiceContext,
  { serverId, query }: { serverId: string; query: ListQuery },
) {
  await findServer(ctx, serverId)
  const page = await pageOfContainers(ctx, { serverId, query })
  return { ...page, stale: !(await ctx.hub.online(serverId)) }
}

/** Every server's containers in one list, or one server's (`server_id`), so a table needs one request. */
export async function listAllContainers(
  ctx: ServiceContext,
  { query }: { query: z.infer<typeof allContainersQuery> },
) {
  const { server_id: serverId, ...rest } = query
  if (serverId !== undefined) await findServer(ctx, serverId)
  return pageOfContainers(ctx, { serverId, query: rest })
}

/** What a feed last read of each container (by id): its server and what a list shows of it. */
export type ContainerStates = Map<string, { serverId: string; shown: string }>

export interface ContainerChanges {
  states: ContainerStates
  /** Containers new since `known`, or changed in what a list shows. */
  changed: ContainerView[]
  removed: { id: string; server_id: string }[]
}

/**
 * What changed in one server's containers (or every server's) since `known`; with no `known`,
 * the states to compare with next time and no change. Reads the columns a list shows, and whole
 * rows only of the containers that changed.
 */
export async function containerChanges(
  ctx: ServiceContext,
  { serverId, known }: { serverId?: string; known: ContainerStates | null },
): Promise<ContainerChanges> {
  const rows = await ctx.db
    .select({
      id: containers.id,
      serverId: containers.serverId,
      name: containers.name,
      image: containers.image,
      status: containers.status,
      health: containers.health,
      exitCode: containers.exitCode,
      tags: containers.tags,
      startedAt: containers.startedAt,
    })
    .from(containers)
    .where(serverId === undefined ? undefined : eq(containers.serverId, serverId))
  const states: ContainerStates = new Map()
  for (const { id, serverId: server, ...shown } of rows) {
    states.set(id, { serverId: server, shown: JSON.stringify(shown) })
  }
  if (!known) return { states, changed: [], removed: [] }
  const changedIds = [...states].filter(([id, s]) => known.get(id)?.shown !== s.shown).map(([id]) => id)
  const removed = [...known]
    .filter(([id]) => !states.has(id))
    .map(([id, s]) => ({ id, server_id: s.serverId }))
  const changed: ContainerView[] = []
  for (const ids of boundSlices(changedIds)) {
    const full = await ctx.db.select().from(containers).where(inArray(containers.id, ids))
    changed.push(...full.map(toContainerView))
  }
  return { states, changed, removed }
}
