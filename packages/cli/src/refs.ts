import { type BerthClient, unwrap } from '@berth/client'

// What a user types for a server or an app (its name, or its id) as the API's id.

type App = Awaited<ReturnType<typeof appById>>['app']

const appById = (client: BerthClient, id: string) => unwrap(client.api.apps[':id'].$get({ param: { id } }))

/** The app of a name or an id (`app_…`); a name no app has is the API's 404 for it. */
export async function findApp(client: BerthClient, ref: string): Promise<App> {
  if (ref.startsWith('app_')) return (await appById(client, ref)).app
  let cursor: string | undefined
  do {
    const page = await unwrap(
      client.api.apps.$get({ query: { limit: '200', ...(cursor ? { cursor } : {}) } }),
    )
    const found = page.apps.find((a) => a.name === ref)
    if (found) return (await appById(client, found.id)).app
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return (await appById(client, ref)).app
}

/** The id of a server of a name or an id (`srv_…`). */
export async function serverIdOf(client: BerthClient, ref: string): Promise<string> {
  if (ref.startsWith('srv_')) return ref
  let cursor: string | undefined
  do {
    const page = await unwrap(
      client.api.servers.$get({ query: { limit: '200', ...(cursor ? { cursor } : {}) } }),
    )
    const found = page.servers.find((s) => s.name === ref)
    if (found) return found.id
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return ref
}
