import { type ApiError, errorBody } from '../errors.ts'

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
