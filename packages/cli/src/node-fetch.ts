import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Readable } from 'node:stream'

/** Answers that have no body, which Response refuses one for. */
const NO_BODY = new Set([101, 204, 205, 304])

/**
 * fetch over node:http. Node 20's own fetch compiles its HTTP parser (WebAssembly) on the first
 * request, about 200 ms that a command making one or two calls would spend on nothing else.
 */
export async function nodeFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input))
  const headers = Object.fromEntries(
    new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined)),
  )
  const body = init.body ?? null
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  const signal = init.signal ?? undefined
  signal?.throwIfAborted()
  return new Promise<Response>((resolve, reject) => {
    const req = send(url, { method: init.method ?? 'GET', headers, signal }, (res: IncomingMessage) => {
      const answer = new Headers()
      for (const [key, value] of Object.entries(res.headers)) {
        if (value !== undefined) answer.set(key, Array.isArray(value) ? value.join(', ') : value)
      }
      const stream = NO_BODY.has(res.statusCode ?? 0)
        ? null
        : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
      if (!stream) res.resume()
      resolve(
        new Response(stream, {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: answer,
        }),
      )
    })
    req.on('error', reject)
    if (body === null) req.end()
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body)
    else if (body instanceof ReadableStream) Readable.fromWeb(body as never).pipe(req)
    else reject(new TypeError('a body of this kind is not sent by berth'))
  })
}
