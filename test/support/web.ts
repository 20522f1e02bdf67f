import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'

// Requests to apps by hostname, as a user's browser makes them, without DNS: the connection goes
// to 127.0.0.1:<resolveTo> while Host and SNI carry the URL's name (like `curl --resolve`).

export interface WebReply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface WebOptions {
  /** The loopback port to connect to instead of the URL's (Caddy's http or https port). */
  resolveTo?: number
  /** PEM of the roots to trust for https (Pebble's issuedRootPem(), Caddy's local root). */
  ca?: string
  method?: string
  headers?: Record<string, string>
  body?: string
  /** A fresh connection per request unless given an agent that keeps them (see loadLoop). */
  agent?: HttpAgent
  timeoutMs?: number
  /** The address to connect from (another loopback address, to tell the client from a proxy). */
  localAddress?: string
}

/** One request; never follows a redirect, so a test sees the 308 Caddy answers on http://. */
export function webRequest(url: string, opts: WebOptions = {}): Promise<WebReply> {
  const target = new URL(url)
  const https = target.protocol === 'https:'
  const hostname = target.hostname.replace(/^\[|\]$/g, '')
  const port = opts.resolveTo ?? (target.port ? Number(target.port) : https ? 443 : 80)
  const send = https ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host: opts.resolveTo === undefined ? hostname : '127.0.0.1',
        port,
        path: `${target.pathname}${target.search}`,
        method: opts.method ?? 'GET',
        headers: { host: target.host, ...opts.headers },
        agent: opts.agent ?? false,
        timeout: opts.timeoutMs ?? 10_000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        ...(https ? { ca: opts.ca, ...(isIP(hostname) ? {} : { servername: hostname }) } : {}),
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 10_000} ms`)),
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

export const httpGet = (url: string, opts: Omit<WebOptions, 'method' | 'body'> = {}) => webRequest(url, opts)

export const httpsGet = (
  url: string,
  opts: Omit<WebOptions, 'method' | 'body'> & { resolveTo: number; ca: string },
) => webRequest(url, opts)

export interface LoadOptions extends Omit<WebOptions, 'method' | 'body' | 'agent'> {
  url: string
  /** How many requests in all: the loop is bounded. */
  count: number
  /** Requests in flight at once. */
  concurrency?: number
  /** Spreads the requests evenly over this long (3,000 in 60 s); as fast as they go without it. */
  durationMs?: number
  /** Reuse connections (a browser's way); a fresh connection per request without it. */
  keepAlive?: boolean
  /**
   * Whether an answer counts as served; by default any status under 500. Caddy answers a request no
   * route matches with an empty 200, so a test of a switch should check the body too.
   */
  served?: (reply: WebReply) => boolean
}

export interface LoadFailure {
  /** The request's number, in the order they were sent. */
  index: number
  status?: number
  error?: string
}

export interface LoadResult {
  sent: number
  served: number
  failures: LoadFailure[]
  /** How many answers had each status. */
  statuses: Record<number, number>
  /** How many answers had each body (trimmed): which container or version served them. */
  bodies: Record<string, number>
}

/** A bounded loop of requests that counts every failure: a status ≥ 500, a reset, a refused connection. */
export async function loadLoop(opts: LoadOptions): Promise<LoadResult> {
  const { url, count, concurrency = 4, durationMs, keepAlive = false, served = (r) => r.status < 500 } = opts
  const Agent = new URL(url).protocol === 'https:' ? HttpsAgent : HttpAgent
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: concurrency }) : undefined
  const result: LoadResult = { sent: 0, served: 0, failures: [], statuses: {}, bodies: {} }
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < count) {
      const index = next++
      // Pacing, not synchronisation: request `index` is due at its share of durationMs.
      const due = durationMs === undefined ? 0 : started + (index * durationMs) / count - performance.now()
      if (due > 0) await new Promise((r) => setTimeout(r, due))
      result.sent++
      try {
        const reply = await webRequest(url, { ...opts, agent })
        result.statuses[reply.status] = (result.statuses[reply.status] ?? 0) + 1
        const body = reply.body.trim().slice(0, 200)
        result.bodies[body] = (result.bodies[body] ?? 0) + 1
        if (served(reply)) result.served++
        else result.failures.push({ index, status: reply.status, error: body || undefined })
      } catch (err) {
        result.failures.push({ index, error: err instanceof Error ? err.message : String(err) })
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  } finally {
    agent?.destroy()
  }
  return result
}
