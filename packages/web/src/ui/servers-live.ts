import type { OpResult } from '@berth/shared'
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { liveError, subscribe } from '../live.ts'
import { type Loaded, upsert } from '../load.ts'
import { bytes } from './format.ts'

// Servers as they are now: the list from the API kept current by the one `servers` channel, and
// the resources of the online servers on screen, each from its `server:<id>` channel.

export type Server = Awaited<ReturnType<typeof listServers>>[number]
/** A host's resources, as `GET /servers/:id/resources` and the `resources` event give them. */
export type Resources = OpResult<'host.resources'>

/** At most this many resources channels at once: a socket holds 64 subscriptions. */
const RESOURCES_AT_ONCE = 50

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

/**
 * Keeps the loaded servers current: new ones, changes (status, agent) and removals; with `only`,
 * that one server's changes. Resolves to the channel's refusal, if any.
 */
export function useServersLive(servers: Loaded<Server[]>, only?: string): unknown {
  const [refused, setRefused] = useState<unknown>(undefined)
  useEffect(
    () =>
      subscribe(
        'servers',
        (event, data) => {
          const { id } = data as { id: string }
          if (only !== undefined) {
            if (event === 'server' && id === only) servers.set(() => [data as Server])
          } else if (event === 'server') servers.set((list) => upsert(list, data as Server))
          else if (event === 'removed') servers.set((list) => list?.filter((s) => s.id !== id))
        },
        (error) => setRefused(liveError(error)),
      ),
    [only],
  )
  return refused
}

/** The resources of these servers (at most RESOURCES_AT_ONCE), each from its channel while it is listed. */
export function useResources(ids: string[]) {
  const [resources, setResources] = useState<Record<string, Resources>>({})
  const [error, setError] = useState<unknown>(undefined)
  const channels = useRef(new Map<string, () => void>())
  useEffect(() => {
    const want = new Set(ids.slice(0, RESOURCES_AT_ONCE))
    for (const [id, stop] of channels.current) {
      if (want.has(id)) continue
      stop()
      channels.current.delete(id)
    }
    for (const id of want) {
      if (channels.current.has(id)) continue
      const got = (event: string, data: unknown) => {
        if (event === 'resources') setResources((all) => ({ ...all, [id]: data as Resources }))
      }
      channels.current.set(
        id,
        subscribe(`server:${id}`, got, (refused) => setError(liveError(refused))),
      )
    }
  }, [ids.join(',')])
  useEffect(
    () => () => {
      for (const stop of channels.current.values()) stop()
      channels.current.clear()
    },
    [],
  )
  return { resources, error }
}

/**
 * The resources of the online servers whose rows are on screen, however many servers there are.
 * Rows register through `observe`, and carry their server's id as `data-server`.
 */
export function useResourcesOnScreen(servers: Server[]) {
  const [onScreen, setOnScreen] = useState<ReadonlySet<string>>(new Set())
  const observer = useMemo(
    () =>
      new IntersectionObserver((entries) =>
        setOnScreen((shown) => {
          const next = new Set(shown)
          for (const entry of entries) {
            const id = (entry.target as HTMLElement).dataset.server
            if (id && entry.isIntersecting) next.add(id)
            else if (id) next.delete(id)
          }
          return next
        }),
      ),
    [],
  )
  useEffect(() => () => observer.disconnect(), [observer])
  const observe = useCallback(
    (row: Element | null) => {
      if (row) observer.observe(row)
    },
    [observer],
  )
  const live = useResources(
    servers.filter((s) => s.status === 'online' && onScreen.has(s.id)).map((s) => s.id),
  )
  return { ...live, observe }
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
