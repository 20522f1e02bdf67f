import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Context } from 'hono'
import type { RawConnection } from '../../context.ts'
import { upgradeRequired } from '../../errors.ts'
import { log } from '../../lib/log.ts'
import type { UpgradeEnv } from './hub.ts'

/** Takes over an upgrade request's socket as a raw connection (Deps.upgradeRaw on Node). */
export function upgradeRaw(
  c: Context,
  open: (client: RawConnection) => Promise<Response | undefined>,
): Response {
  const env = c.env as Partial<UpgradeEnv> | undefined
  if (!env?.incoming || !env.socket || !env.head) throw upgradeRequired()
  env.upgraded = true
  const socket = env.socket
  open(rawConnection(socket, env.head)).then(
    (response) => (response ? writeResponse(socket, response) : undefined),
    (err) => {
      log.error('raw upgrade failed', err)
      socket.destroy()
    },
  )
  // Nothing writes it: the socket is taken.
  return new Response(null, { status: 200 })
}

/** A socket's bytes as streams: `head` (read with the request's head) first, paced by the reader. */
export function rawConnection(socket: Duplex, head: Buffer): RawConnection {
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(new Uint8Array(head))
      socket.on('data', (data: Buffer) => {
        controller.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.length))
        if ((controller.desiredSize ?? 0) <= 0) socket.pause()
      })
      socket.once('end', () => controller.close())
      socket.once('error', (err) => controller.error(err))
      socket.once('close', () => {
        try {
          controller.close()
        } catch {
          // already closed or errored
        }
      })
    },
    pull() {
      socket.resume()
    },
    cancel() {
      socket.destroy()
    },
  })
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed) return reject(new Error('the client went away'))
        if (socket.write(chunk)) return resolve()
        const settle = (gone: boolean) => {
          socket.off('drain', drained)
          socket.off('close', closed)
          gone ? reject(new Error('the client went away')) : resolve()
        }
        const drained = () => settle(false)
        const closed = () => settle(true)
        socket.once('drain', drained)
        socket.once('close', closed)
      }),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
    abort: () => {
      socket.destroy()
    },
  })
  return {
    readable,
    writable,
    // What was written before goes out first.
    close: () => {
      if (socket.writableEnded && !socket.writableFinished) socket.once('finish', () => socket.destroy())
      else socket.destroy()
    },
  }
}

/** Writes a whole response on a socket an upgrade request came on, then closes it. */
export async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer())
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`]
  response.headers.forEach((value, key) => {
    if (key !== 'content-length' && key !== 'connection') lines.push(`${key}: ${value}`)
  })
  lines.push(`Content-Length: ${body.length}`, 'Connection: close', '', '')
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), body]))
}
