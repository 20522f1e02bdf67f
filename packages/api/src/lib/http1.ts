// HTTP/1.1 on a byte stream, for requests relayed to a Docker socket through an agent: a message's
// head, and a response read back incrementally. Portable (it runs on Workers too).

/** Header fields in the order they came, names as sent. */
export type HeaderList = [name: string, value: string][]

/** What a proxy never passes on (RFC 9110 section 7.6.1), besides what Connection names. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** The largest response head (status line and headers) accepted; Docker's are well under 1 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024
/** The longest chunk-size line (with extensions) accepted. */
const MAX_CHUNK_LINE_BYTES = 1024

export class HttpParseError extends Error {}

/** The end-to-end fields of `headers`: hop-by-hop ones and those its Connection field names dropped. */
export function endToEnd(headers: Iterable<[string, string]>): HeaderList {
  const list = [...headers]
  const named = new Set(HOP_BY_HOP)
  for (const [name, value] of list) {
    if (name.toLowerCase() !== 'connection') continue
    for (const token of value.split(',')) named.add(token.trim().toLowerCase())
  }
  return list.filter(([name]) => !named.has(name.toLowerCase()))
}

const encoder = new TextEncoder()

/** A message's head as bytes: its start line (request or status line), fields, blank line. */
export function httpHead(startLine: string, headers: HeaderList): Uint8Array {
  if (/[\r\n]/.test(startLine)) throw new HttpParseError('the start line holds a line break')
  const lines = [startLine]
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
      throw new HttpParseError(`header ${name} holds a line break`)
    lines.push(`${name}: ${value}`)
  }
  lines.push('', '')
  return encoder.encode(lines.join('\r\n'))
}

const CRLF = encoder.encode('\r\n')
const LAST_CHUNK = encoder.encode('0\r\n\r\n')

/** Frames a body of unknown length as chunked transfer coding. */
export function chunkedEncoder(): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(bytes, controller) {
      if (bytes.length === 0) return
      controller.enqueue(encoder.encode(`${bytes.length.toString(16)}\r\n`))
      controller.enqueue(bytes)
      controller.enqueue(CRLF)
    },
    flush(controller) {
      controller.enqueue(LAST_CHUNK)
    },
  })
}

export type ResponseEvent =
  | { type: 'head'; status: number; reason: string; headers: HeaderList }
  | { type: 'body'; bytes: Uint8Array }
  /** The response is complete; `rest` is what followed it (after a 101, the upgraded stream's first bytes). */
  | { type: 'end'; rest: Uint8Array }

type State =
  | { at: 'head' }
  | { at: 'length'; left: number }
  | { at: 'chunk-size' }
  | { at: 'chunk-data'; left: number }
  | { at: 'chunk-end' }
  | { at: 'trailers' }
  | { at: 'close' }
  | { at: 'done' }

/**
 * Reads one HTTP/1.1 response from bytes fed in any pieces: `feed` returns what they completed,
 * `finish` says the stream ended (a body read until close ends there; anything else cut short
 * throws). Interim 1xx responses other than 101 are skipped. Throws HttpParseError on bytes that
 * are not HTTP.
 */
export class ResponseParser {
  private state: State = { at: 'head' }
  /** Bytes of a line or head not complete yet. */
  private pending: Uint8Array = new Uint8Array(0)

  /** `noBody`: the request was HEAD, so no response to it has a body whatever its fields say. */
  constructor(private readonly noBody = false) {}

  feed(bytes: Uint8Array): ResponseEvent[] {
    const events: ResponseEvent[] = []
    let data = this.pending.length > 0 ? concat(this.pending, bytes) : bytes
    this.pending = new Uint8Array(0)
    while (data.length > 0) {
      const state = this.state
      if (state.at === 'done') {
        throw new HttpParseError('bytes after the end of the response')
      }
      if (state.at === 'close') {
        events.push({ type: 'body', bytes: data })
        return events
      }
      if (state.at === 'length' || state.at === 'chunk-data') {
        const take = Math.min(state.left, data.length)
        events.push({ type: 'body', bytes: data.subarray(0, take) })
        data = data.subarray(take)
        state.left -= take
        if (state.left === 0) {
          if (state.at === 'length') this.complete(events, data)
          else this.state = { at: 'chunk-end' }
          if (this.state.at === 'done') return events
        }
        continue
      }
      if (state.at === 'head') {
        const end = indexOfBlankLine(data)
        if (end < 0) {
          if (data.length > MAX_HEAD_BYTES) throw new HttpParseError('the response head is too large')
          this.pending = data.slice()
          return events
        }
        const head = parseHead(latin1(data.subarray(0, end)))
        data = data.subarray(end + 4)
        if (head.status >= 100 && head.status < 200 && head.status !== 101) continue
        events.push({ type: 'head', ...head })
        this.state = this.bodyState(head.status, head.headers)
        if (this.state.at === 'done') {
          events.push({ type: 'end', rest: data })
          return events
        }
        continue
      }
      // chunk-size, chunk-end, trailers: one line at a time.
      const eol = indexOfCrlf(data)
      if (eol < 0) {
        if (data.length > MAX_CHUNK_LINE_BYTES) throw new HttpParseError('a chunk line is too long')
        this.pending = data.slice()
        return events
      }
      const line = latin1(data.subarray(0, eol))
      data = data.subarray(eol + 2)
      if (state.at === 'chunk-end') {
        if (line !== '') throw new HttpParseError('a chunk does not end with CRLF')
        this.state = { at: 'chunk-size' }
      } else if (state.at === 'chunk-size') {
        const size = line.split(';')[0]!.trim()
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpParseError('a chunk size is not hexadecimal')
        const left = Number.parseInt(size, 16)
        this.state = left === 0 ? { at: 'trailers' } : { at: 'chunk-data', left }
      } else if (line === '') {
        this.complete(events, data)
        return events
      }
    }
    return events
  }

  /** The stream ended: what that completes, or HttpParseError if the response was cut short. */
  finish(): ResponseEvent[] {
    if (this.state.at === 'close') {
      this.state = { at: 'done' }
      return [{ type: 'end', rest: new Uint8Array(0) }]
    }
    if (this.state.at === 'done') return []
    throw new HttpParseError(
      this.state.at === 'head' ? 'the connection closed before a response' : 'the response was cut short',
    )
  }

  private complete(events: ResponseEvent[], rest: Uint8Array) {
    this.state = { at: 'done' }
    events.push({ type: 'end', rest })
  }

  private bodyState(status: number, headers: HeaderList): State {
    if (this.noBody || status === 101 || status === 204 || status === 304) return { at: 'done' }
    const field = (name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)
    const coding = field('transfer-encoding').join(',').toLowerCase()
    if (coding) {
      if (coding.split(',').at(-1)?.trim() === 'chunked') return { at: 'chunk-size' }
      return { at: 'close' }
    }
    const lengths = new Set(field('content-length').flatMap((v) => v.split(',').map((s) => s.trim())))
    if (lengths.size === 0) return { at: 'close' }
    const [length] = lengths
    if (lengths.size > 1 || !/^\d{1,15}$/.test(length!))
      throw new HttpParseError('the Content-Length is not valid')
    const left = Number(length)
    return left === 0 ? { at: 'done' } : { at: 'length', left }
  }
}

function parseHead(text: string): { status: number; reason: string; headers: HeaderList } {
  const [statusLine = '', ...lines] = text.split('\r\n')
  const match = statusLine.match(/^HTTP\/1\.[01] (\d{3})(?: (.*))?$/)
  if (!match) throw new HttpParseError('the status line is not HTTP/1.x')
  const headers: HeaderList = []
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon)))
      throw new HttpParseError('a header line is not valid')
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()])
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers }
}

function indexOfBlankLine(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i
  }
  return -1
}

function indexOfCrlf(data: Uint8Array): number {
  for (let i = 0; i + 1 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10) return i
  }
  return -1
}

function latin1(bytes: Uint8Array): string {
  let text = ''
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192))
  }
  return text
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
