import { useEffect, useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { liveError, subscribe } from '../live.ts'
import type { Loaded } from '../load.ts'
import { bytes } from './format.ts'

// Servers as they are now: the list from the API, their status and resources over each one's
// `server:<id>` channel.

export type Server = Awaited<ReturnType<typeof listServers>>[number]
export type Resources = Awaited<ReturnType<typeof serverResources>>

const STATUSES = new Set(['online', 'offline', 'pending'])

const serversPage = (cursor: string | null) =>
  call(api().servers.$get({ query: { limit: '200', ...(cursor ? { cursor } : {}) } }))

/** Every server, page after page. */
export async function listServers() {
  let page = await serversPage(null)
  const servers = page.servers
  while (page.next_cursor) {
    page = await serversPage(page.next_cursor)
    servers.push(...page.servers)
  }
  return servers
}

const serverResources = async (id: string) =>
  (await call(api().servers[':id'].resources.$get({ param: { id } }))).resources

/**
 * Keeps the loaded servers' status current and gathers their resources: the first figure of an
 * online server from `GET /servers/:id/resources`, then every `resources` event of its channel.
 */
export function useServersLive(servers: Loaded<Server[]>) {
  const [resources, setResources] = useState<Record<string, Resources>>({})
  const [error, setError] = useState<unknown>(undefined)
  const ids = (servers.data ?? []).map((s) => s.id).join(',')
  useEffect(() => {
    const list = servers.data ?? []
    const got = (id: string, value: Resources) => setResources((all) => ({ ...all, [id]: value }))
    for (const server of list) {
      if (server.status === 'online') serverResources(server.id).then((r) => got(server.id, r), setError)
    }
    const stops = list.map((server) =>
      subscribe(
        `server:${server.id}`,
        (event, data) => {
          if (event === 'resources') return got(server.id, data as Resources)
          if (!STATUSES.has(event)) return
          const { status, last_seen_at } = data as Pick<Server, 'status' | 'last_seen_at'>
          const put = (next: Partial<Server>) =>
            servers.set((all) => all?.map((s) => (s.id === server.id ? { ...s, ...next } : s)))
          put({ status, last_seen_at })
          // An agent that connects says what it runs on (versions, arch): the server is read again.
          if (status === 'online' && server.status !== 'online') {
            call(api().servers[':id'].$get({ param: { id: server.id } })).then((r) => put(r.server), setError)
          }
        },
        (refused) => setError(liveError(refused)),
      ),
    )
    return () => {
      for (const stop of stops) stop()
    }
  }, [ids])
  return { resources, error }
}

/** CPU (the last minute's load average, beside the cores), memory and disk, as a page shows them. */
export function resourceFigures(r: Resources | undefined) {
  if (!r) return { cpu: '–', memory: '–', disk: '–' }
  return {
    cpu: `${r.load[0].toFixed(2)} on ${r.cpus} cores`,
    memory: `${bytes(r.memory.used)} of ${bytes(r.memory.total)}`,
    disk: `${bytes(r.disk.used)} of ${bytes(r.disk.total)}`,
  }
}
