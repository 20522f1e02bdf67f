import http from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'

// fetch over node:http. Node's own fetch loads undici on its first call, which took about as long
// as the rest of a `berth servers ls` (≈150 ms of ≈350 ms here); node:http is loaded already.

type Body = string | Uint8Array | ReadableStream<Uint8Array> | null

/** The request's headers and a body node:http can send: FormData and the like serialised by Request. */
function outgoing(url: URL, init: RequestInit): { headers: Headers; body: Body } {
  const body = init.body ?? null
  if (
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ReadableStream
  ) {
    return { headers: new Headers(init.headers), body: body as Body }
  }
  const request = new Request(url, { method: init.method ?? 'POST', headers: init.headers, body })
  return { headers: request.headers, body: request.body }
}

/** A `fetch` for the client: one request per call on node:http or node:https, streamed both ways. */
export const nodeFetch: typeof fetch = (input, init = {}) => {
  const url = new URL(input instanceof Request ? input.url : input)
  const { headers, body } = outgoing(url, init)
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(headers),
        signal: init.signal ?? undefined,
      },
      (res) => {
        const answer = new Headers()
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of [value ?? []].flat()) answer.append(name, v)
        }
        const status = res.statusCode ?? 0
        const stream =
          status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
        resolve(new Response(stream, { status, statusText: res.statusMessage, headers: answer }))
      },
    )
    request.once('error', reject)
    if (body instanceof ReadableStream) Readable.fromWeb(body as never).pipe(request)
    else request.end(body ?? undefined)
  })
}
