import type { AppType } from '@berth/api'
import { hc } from 'hono/client'

/** Where an API is and who is calling it. */
export interface ClientOptions {
  /** The API's origin, e.g. `https://berth.example.com`; `/api/v1` is added. */
  url: string
  /** A bearer token: a session token from login, or an API token. */
  token?: string
  fetch?: typeof fetch
}

/** The documented error body: every 4xx and 5xx answer of the API. */
export interface ErrorBody {
  error: string
  code: string
  message: string
  status: number
  request_id: string
  timestamp: string
  details?: unknown
}

/** A call the API refused or failed: its error body, or a transport failure with status 0. */
export class BerthError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message)
    this.name = 'BerthError'
  }

  get status(): number {
    return this.body.status
  }

  get code(): string {
    return this.body.code
  }
}

/** A typed client of the whole API (hono's RPC client over the API's own route types). */
export function createClient(options: ClientOptions) {
  const origin = options.url.replace(/\/+$/, '')
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {}
  const api = hc<AppType>(origin, { headers, fetch: options.fetch }).api.v1
  return { origin, token: options.token, api }
}

export type BerthClient = ReturnType<typeof createClient>
