/**
 * One server-sent event as text, for writing many at once: `data` must be a single line (JSON
 * is), and `event` and `id` hold no line breaks.
 */
export function sseEvent(event: string, data: string, id?: string | number): string {
  return id === undefined
    ? `event: ${event}\ndata: ${data}\n\n`
    : `event: ${event}\ndata: ${data}\nid: ${id}\n\n`
}
