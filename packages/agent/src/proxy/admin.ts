import http from 'node:http'

/** Where the host's Caddy takes admin requests: an http:// URL or a unix socket path. */
export type AdminEndpoint = { url: URL } | { socket: string }

/** A request to Caddy's admin endpoint that it refused, or that did not reach it (`status` 0). */
export class CaddyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'CaddyError'
  }
}

const TIMEOUT_MS = 10_000

/** Parses `--caddy-admin`: an http URL, a unix socket path, or `off` (null). */
export function adminEndpoint(raw: string): AdminEndpoint | null {
  if (raw === 'off') return null
  if (raw.startsWith('unix:')) return { socket: raw.replace(/^unix:(\/\/)?/, '') }
  if (raw.startsWith('/')) return { socket: raw }
  const url = new URL(raw)
  if (url.protocol !== 'http:')
    throw new TypeError(`the Caddy admin endpoint "${raw}" must be http:// or a socket path`)
  return { url }
}

export function describeEndpoint(endpoint: AdminEndpoint): string {
  return 'socket' in endpoint ? `unix:${endpoint.socket}` : endpoint.url.origin
}

/**
 * Caddy's admin API: config paths (`/config/...`) and objects by `@id` (`/id/...`). Each request
 * opens its own connection, since Caddy closes kept-alive admin connections on every config load.
 */
export class CaddyAdmin {
  constructor(readonly endpoint: AdminEndpoint) {}

  async get<T = unknown>(path: string, signal?: AbortSignal): Promise<T> {
    return (await this.request('GET', path, undefined, { signal })).body as T
  }

  /** The config at `path` with its ETag (`"<path> <hash>"`), for a write that must not overwrite a change since. */
  async getTagged<T = unknown>(path: string): Promise<{ body: T; etag: string | null }> {
    const { body, etag } = await this.request('GET', path)
    return { body: body as T, etag }
  }

  /** Sets or replaces the object at `path`; appends to an array. */
  async post(path: string, body: unknown): Promise<unknown> {
    return (await this.request('POST', path, body)).body
  }

  /** Creates the object at `path` (an error when it exists); inserts into an array at an index. */
  async put(path: string, body: unknown, ifMatch?: string | null): Promise<unknown> {
    return (await this.request('PUT', path, body, { ifMatch })).body
  }

  /** Replaces the object at `path`, which must exist; with `ifMatch`, only if the config is still that one (412 otherwise). */
  async patch(path: string, body: unknown, ifMatch?: string | null): Promise<unknown> {
    return (await this.request('PATCH', path, body, { ifMatch })).body
  }

  async delete(path: string): Promise<unknown> {
    return (await this.request('DELETE', path)).body
  }

  private request(
    method: string,
    path: string,
    body?: unknown,
    options: { signal?: AbortSignal; ifMatch?: string | null } = {},
  ): Promise<{ body: unknown; etag: string | null }> {
    const { signal, ifMatch } = options
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const target =
      'socket' in this.endpoint
        ? { socketPath: this.endpoint.socket }
        : { host: this.endpoint.url.hostname, port: Number(this.endpoint.url.port || 80) }
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...target,
          method,
          path,
          agent: false,
          timeout: TIMEOUT_MS,
          signal: signal ?? AbortSignal.timeout(TIMEOUT_MS),
          // Caddy checks the Host of admin requests against its listen address.
          headers: {
            host: 'socket' in this.endpoint ? 'localhost' : this.endpoint.url.host,
            ...(ifMatch ? { 'if-match': ifMatch } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const pieces: Buffer[] = []
          res.on('data', (piece: Buffer) => pieces.push(piece))
          res.on('error', (err) => reject(new CaddyError(0, err.message)))
          res.on('end', () => {
            const text = Buffer.concat(pieces).toString('utf8')
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) {
              // Caddy sends a GET's ETag as a trailer, once it has hashed what it sent.
              const etag = res.trailers.etag ?? res.headers.etag ?? null
              resolve({ body: text.trim() === '' ? null : JSON.parse(text), etag })
              return
            }
            reject(new CaddyError(status, errorText(text) ?? `HTTP ${status}`))
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error('no answer from Caddy')))
      req.on('error', (err) => reject(new CaddyError(0, err.message)))
      req.end(payload)
    })
  }
}

function errorText(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { error?: unknown }
    return typeof parsed.error === 'string' ? parsed.error : null
  } catch {
    return text.trim().slice(0, 500) || null
  }
}
