import type { Server } from '@berth/shared'
import { inArray } from 'drizzle-orm'
import type { ServiceContext } from '../context.ts'
import { boundSlices } from '../db/index.ts'
import { servers } from '../db/schema.ts'
import { toServerView } from './servers.ts'

// What changed in the list of servers since a feed last read it, for the `servers` channel.

/** What a feed last read of each server (by id): what the list of servers shows of it. */
export type ServerStates = Map<string, string>

export interface ServerChanges {
  states: ServerStates
  /** Servers new since `known`, or changed in what the list shows. */
  changed: Server[]
  removed: { id: string }[]
}

/**
 * What changed in the servers since `known`; with no `known`, the states to compare with next
 * time and no change. Reads the columns the list shows, and whole rows only of the servers that
 * changed.
 */
export async function serverChanges(
  ctx: ServiceContext,
  { known }: { known: ServerStates | null },
): Promise<ServerChanges> {
  const rows = await ctx.db
    .select({
      id: servers.id,
      name: servers.name,
      status: servers.status,
      lastSeenAt: servers.lastSeenAt,
      agentVersion: servers.agentVersion,
      dockerVersion: servers.dockerVersion,
      arch: servers.arch,
    })
    .from(servers)
  const states: ServerStates = new Map(rows.map(({ id, ...shown }) => [id, JSON.stringify(shown)]))
  if (!known) return { states, changed: [], removed: [] }
  const changedIds = [...states].filter(([id, shown]) => known.get(id) !== shown).map(([id]) => id)
  const removed = [...known.keys()].filter((id) => !states.has(id)).map((id) => ({ id }))
  const changed: Server[] = []
  for (const ids of boundSlices(changedIds)) {
    const full = await ctx.db.select().from(servers).where(inArray(servers.id, ids))
    changed.push(...full.map(toServerView))
  }
  return { states, changed, removed }
}
