import { type BerthClient, BerthError, unwrap } from '@berth/client'

// The API names servers and apps by id; people type their names. A name is looked up in the list.

type Page<T> = Promise<[items: T[], next: string | null]>

async function byName<T extends { id: string; name: string }>(
  what: string,
  name: string,
  page: (cursor: string | undefined) => Page<T>,
): Promise<T> {
  let cursor: string | undefined
  do {
    const [items, next] = await page(cursor)
    const found = items.find((item) => item.name === name)
    if (found) return found
    cursor = next ?? undefined
  } while (cursor)
  throw notFound(`no ${what} named ${name}`)
}

/** A thing the API does not have, found out on this side (a name no list holds): exit code 4. */
export function notFound(message: string): BerthError {
  return BerthError.local({ error: 'not_found', code: 'not_found', message, status: 404 })
}

/** A server's id from its id (`srv_…`) or its name. */
export async function serverId(client: BerthClient, ref: string): Promise<string> {
  if (ref.startsWith('srv_')) return ref
  const found = await byName('server', ref, async (cursor) => {
    const page = await unwrap(client.api.servers.$get({ query: { limit: '200', cursor } }))
    return [page.servers, page.next_cursor]
  })
  return found.id
}

/** An app's id from its id (`app_…`) or its name. */
export async function appId(client: BerthClient, ref: string): Promise<string> {
  if (ref.startsWith('app_')) return ref
  const found = await byName('app', ref, async (cursor) => {
    const page = await unwrap(client.api.apps.$get({ query: { limit: '200', cursor } }))
    return [page.apps, page.next_cursor]
  })
  return found.id
}

/** An app from its id or its name, as GET /apps/:id shows it. */
export async function findApp(client: BerthClient, ref: string) {
  const id = await appId(client, ref)
  return (await unwrap(client.api.apps[':id'].$get({ param: { id } }))).app
}
