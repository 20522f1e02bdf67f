import type { AppType } from '@berth/api'
import { hc } from 'hono/client'

export { BerthError, type ErrorBody, errorOf, transportError } from './errors.ts'
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
