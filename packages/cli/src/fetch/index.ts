import type { IncomingMessage } from 'node:http'
import http from 'node:http'
import { Readable } from 'node:stream'
import { LightHeaders } from './headers.ts'

// fetch over node:http, answering with a small Response of its own. Node's fetch, Request,
// Response and Headers all load undici on first use, which took about as long as the rest of a
// `berth servers ls` here; node:http is loaded already, and node:https only for an https URL.

type Body = string | Uint8Array | ReadableStream<Uint8Array> | null

/** The request's headers and a body node:http can send: FormData and the like serialised by Request. */
function outgoing(url: URL, init: RequestInit): { headers: Iterable<[string, string]>; body: Body } {
  const body = init.body ?? null
  if (
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ReadableStream
  ) {
    return { headers: new LightHeaders(init.headers as never), body: body as Body }
  }
  const request = new Request(url, { method: init.method ?? 'POST', headers: init.headers, body })
  return { headers: request.headers, body: request.body }
}

/** What the client reads of an answer: status, headers, and the body once, as text, JSON or a stream. */
class NodeResponse {
  readonly headers = new LightHeaders()
  readonly status: number
  readonly statusText: string
  private stream: ReadableStream<Uint8Array> | null | undefined

  constructor(private readonly res: IncomingMessage) {
    for (const [name, value] of Object.entries(res.headers)) {
      for (const v of [value ?? []].flat()) this.headers.append(name, v)
    }
    this.status = res.statusCode ?? 0
    this.statusText = res.statusMessage ?? ''
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }

  /** The body as a web stream; made on first use, as most answers are read whole. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.stream === undefined) {
      this.stream =
        this.status === 204 || this.status === 304
          ? null
          : (Readable.toWeb(this.res) as ReadableStream<Uint8Array>)
    }
    return this.stream
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const chunks: Buffer[] = []
    for await (const chunk of this.res) chunks.push(chunk as Buffer)
    const whole = Buffer.concat(chunks)
    return whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength) as ArrayBuffer
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer())
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }
}

/** A `fetch` for the client: one request per call on node:http or node:https, streamed both ways. */
export const nodeFetch: typeof fetch = async (input, init = {}) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
  const { headers, body } = outgoing(url, init)
  const transport = url.protocol === 'https:' ? (await import('node:https')).default : http
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(headers),
        signal: init.signal ?? undefined,
      },
      (res) => resolve(new NodeResponse(res) as unknown as Response),
    )
    request.once('error', reject)
    if (body instanceof ReadableStream) Readable.fromWeb(body as never).pipe(request)
    else request.end(body ?? undefined)
  })
}
