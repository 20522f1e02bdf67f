import { Agent, request as httpRequest } from 'node:http'

/** Where a plain-HTTP engine listens: a unix socket, or a host and port without TLS. */
export type PlainEndpoint = { socketPath: string } | { host: string; port: number }

/** A JSON request to Docker's API, answered in one piece (no stream, no upgrade, no file body). */
export interface PlainRequest {
  method: string
  path: string
  query: Record<string, string | number | boolean | object>
  body: unknown
  signal: AbortSignal | undefined
}

/** Docker's answer: the status, and the body parsed as JSON (text when it is not JSON, null when empty). */
export interface PlainReply {
  status: number
  body: unknown
}

/**
 * Docker's API over plain HTTP with kept-alive connections, for the calls the agent makes most
 * (inspect, list, ping): a request costs a fraction of what it costs through docker-modem, which
 * formats every request's options for its debug log whether or not that log is on.
 */
export class PlainDockerHttp {
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 8 })

  constructor(private readonly endpoint: PlainEndpoint) {}

  send(req: PlainRequest): Promise<PlainReply> {
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body))
    const headers: Record<string, string | number> = {}
    if (payload) {
      headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = payload.length
    }
    return new Promise((resolve, reject) => {
      const call = httpRequest(
        {
          ...this.endpoint,
          agent: this.agent,
          method: req.method,
          path: pathWithQuery(req.path, req.query),
          headers,
          ...(req.signal ? { signal: req.signal } : {}),
        },
        (res) => {
          const pieces: Buffer[] = []
          res.on('data', (piece: Buffer) => pieces.push(piece))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(pieces).toString('utf8')
            resolve({ status: res.statusCode ?? 0, body: parseBody(text, res.headers['content-type']) })
          })
        },
      )
      call.on('error', reject)
      call.end(payload)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

/** The query as docker-modem writes it: objects (filters) as JSON, the rest as text. */
function pathWithQuery(path: string, query: PlainRequest['query']): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    params.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return null
  if (!contentType?.includes('json')) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
