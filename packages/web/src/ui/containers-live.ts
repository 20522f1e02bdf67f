import { useEffect, useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { liveError, subscribe } from '../live.ts'
import { type Loaded, upsert, useLoad } from '../load.ts'

// Containers as they are now: one list from `GET /containers` (every server's, or one's) and one
// channel that says what changes in it, so a table of thousands costs two requests and one feed.

export type Container = Awaited<ReturnType<typeof containersPage>>['containers'][number]

const containersPage = (serverId: string | undefined, cursor: string | null) =>
  call(
    api().containers.$get({
      query: { limit: '2000', ...(serverId ? { server_id: serverId } : {}), ...(cursor ? { cursor } : {}) },
    }),
  )

async function listContainers(serverId: string | undefined) {
  let page = await containersPage(serverId, null)
  const all = page.containers
  while (page.next_cursor) {
    page = await containersPage(serverId, page.next_cursor)
    all.push(...page.containers)
  }
  return all
}

/** Every server's containers (or `serverId`'s), kept current by `containers` (or `server:<id>:containers`). */
export function useContainers(serverId?: string): Loaded<Container[]> & { liveError: unknown } {
  const containers = useLoad(() => listContainers(serverId), [serverId])
  const [refused, setRefused] = useState<unknown>(undefined)
  useEffect(() => {
    const channel = serverId ? `server:${serverId}:containers` : 'containers'
    return subscribe(
      channel,
      (event, data) => {
        if (event === 'container') containers.set((list) => upsert(list, data as Container))
        else if (event === 'removed') {
          const { id } = data as { id: string }
          containers.set((list) => list?.filter((c) => c.id !== id))
        }
      },
      (error) => setRefused(liveError(error)),
    )
  }, [serverId])
  return { ...containers, liveError: refused }
}
