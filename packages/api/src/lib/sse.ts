import type { Context } from 'hono'
import { type SSEStreamingApi, streamSSE } from 'hono/streaming'
import type { AppEnv } from '../context.ts'
import { ApiError, errorBody } from '../errors.ts'

/**
 * One server-sent event as text, for writing many at once: `data` must be a single line (JSON
 * is), and `event` and `id` hold no line breaks.
 */
export function sseEvent(event: string, data: string, id?: string | number): string {
  return id === undefined
    ? `event: ${event}\ndata: ${data}\n\n`
    : `event: ${event}\ndata: ${data}\nid: ${id}\n\n`
}

/** The `error` event that ends a stream early: the documented error body as its data. */
export function errorEvent(err: ApiError, requestId: string, now: number): { event: string; data: string } {
  return { event: 'error', data: JSON.stringify(errorBody(err, requestId, now)) }
}

/**
 * Serves a follow as SSE: each item through `write`, then `done` once it ends by itself, or an
 * `error` event when it ends with an ApiError. Stopped when the client goes, released at the end.
 */
export function streamFollow<T>(
  c: Context<AppEnv>,
  held: { follow: AsyncIterable<T> & { stop(): void }; release(): void },
  write: {
    item(sse: SSEStreamingApi, item: T): Promise<unknown>
    done?(sse: SSEStreamingApi): Promise<unknown>
  },
): Response {
  const { follow } = held
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => follow.stop())
    try {
      for await (const item of follow) await write.item(sse, item)
      await write.done?.(sse)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      await sse.writeSSE(errorEvent(err, c.get('requestId'), c.get('deps').clock.now()))
    } finally {
      held.release()
    }
  })
}
