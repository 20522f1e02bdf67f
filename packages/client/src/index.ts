import type { AppType } from '@berth/api'
import { type ClientResponse, hc } from 'hono/client'

import { BerthError, errorBodyOf, unreachable } from './errors.ts'

export { BerthError, type ErrorBody } from './errors.ts'
export { type Query, request } from './http.ts'
export { type ServerSentEvent, SseParser } from './sse.ts'
export * from './streams.ts'

/** Where an API is and who is calling it. */
export interface ClientOptions {
  /** The API's origin, e.g. `https://berth.example.com`; `/api/v1` is added. */
  url: string
  /** A bearer token: a session token from login, or an API token. */
  token?: string
  fetch?: typeof fetch
}

/** A typed client of the whole API (hono's RPC client over the API's own route types). */
export function createClient(options: ClientOptions) {
  const origin = options.url.replace(/\/+$/, '')
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {}
  const api = hc<AppType>(origin, { headers, fetch: options.fetch }).api.v1
  return { origin, token: options.token, fetch: options.fetch, api }
}

export type BerthClient = ReturnType<typeof createClient>

/** The success answers (2xx) among a typed call's possible responses. */
type Succeeded<R> =
  R extends ClientResponse<infer T, infer S, infer F>
    ? S extends 200 | 201 | 202 | 203 | 206
      ? F extends 'json'
        ? T
        : string
      : S extends 204 | 205
        ? undefined
        : never
    : never

/**
 * Resolves to the body of a successful answer (undefined when it has none), or throws a BerthError:
 * the API's error body for a refusal, status 0 and code `unreachable` when no answer came.
 */
export async function unwrap<R extends ClientResponse<unknown, number, string>>(
  call: R | Promise<R>,
): Promise<Succeeded<R>> {
  let res: R
  try {
    res = await call
  } catch (err) {
    throw unreachable(err)
  }
  const text = await res.text().catch((err: unknown) => {
    throw unreachable(err)
  })
  if (res.ok) {
    if (!text) return undefined as Succeeded<R>
    const type = res.headers.get('Content-Type') ?? ''
    return (type.includes('json') ? JSON.parse(text) : text) as Succeeded<R>
  }
  throw new BerthError(errorBodyOf(res, text))
}
