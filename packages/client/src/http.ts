import { BerthError, errorBodyOf, unreachable } from './errors.ts'

/** What the stream helpers need of a client: where the API is and the bearer to send. */
export interface Endpoint {
  origin: string
  token?: string
  fetch?: typeof fetch
}

/** Query parameters; `undefined` leaves one out, an array repeats it. */
export type Query = Record<string, string | number | boolean | string[] | undefined>

/** The URL of `path` under the API's base path (`/api/v1`), with `query`. */
export function apiUrl(endpoint: Endpoint, path: string, query: Query = {}): URL {
  const url = new URL(`${endpoint.origin}/api/v1${path.startsWith('/') ? path : `/${path}`}`)
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(one))
  }
  return url
}

/**
 * A request outside the typed client (a stream, a raw upload): the bearer added, and any answer
 * but 2xx thrown as its BerthError. A failure to connect is a BerthError with status 0.
 */
export async function request(
  endpoint: Endpoint,
  path: string,
  init: RequestInit & { query?: Query } = {},
): Promise<Response> {
  const { query, ...rest } = init
  const headers = new Headers(rest.headers)
  if (endpoint.token && !headers.has('Authorization'))
    headers.set('Authorization', `Bearer ${endpoint.token}`)
  let res: Response
  try {
    res = await (endpoint.fetch ?? fetch)(apiUrl(endpoint, path, query), { ...rest, headers })
  } catch (err) {
    if (rest.signal?.aborted) throw err
    throw unreachable(err)
  }
  if (!res.ok) throw new BerthError(errorBodyOf(res, await res.text().catch(() => '')))
  return res
}
