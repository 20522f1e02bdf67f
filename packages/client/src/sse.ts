/** One server-sent event: `event` is `message` when the server named none. */
export interface ServerSentEvent {
  event: string
  data: string
  id?: string
}

/**
 * The event stream format of the HTML standard, fed text as it arrives: a chunk may end anywhere,
 * even between the CR and LF of a line break. Comments (`:`) and `retry` are read and dropped.
 */
export class SseParser {
  private buffer = ''
  private event = ''
  private data: string[] = []
  private id: string | undefined
  private afterCR = false

  /** The events that `chunk` completes. */
  push(chunk: string): ServerSentEvent[] {
    // A CR that ended the last chunk may be the first half of a CRLF.
    if (this.afterCR && chunk.startsWith('\n')) chunk = chunk.slice(1)
    this.buffer += chunk
    const events: ServerSentEvent[] = []
    let start = 0
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i]
      if (c !== '\n' && c !== '\r') continue
      const event = this.line(this.buffer.slice(start, i))
      if (event) events.push(event)
      if (c === '\r' && this.buffer[i + 1] === '\n') i++
      start = i + 1
    }
    this.afterCR = this.buffer.endsWith('\r')
    this.buffer = this.buffer.slice(start)
    return events
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id' && !value.includes('\0')) this.id = value
    return undefined
  }

  private dispatch(): ServerSentEvent | undefined {
    const { event, data } = this
    this.event = ''
    this.data = []
    // An event with no data line is not dispatched; the last id stays for the next one.
    if (data.length === 0) return undefined
    const out: ServerSentEvent = { event: event || 'message', data: data.join('\n') }
    if (this.id !== undefined) out.id = this.id
    return out
  }
}
