// Follows the HTTP/1.1 messages in one direction of a connection without holding their bodies:
// where each head starts, and how long the body after it is. The Docker tunnel uses it to see the
// calls that pass through, for the audit log; the HTTP Docker endpoint also takes the bodies out.

/** Bytes a message head may take; one longer is not something this follows. */
const MAX_HEAD_BYTES = 64 * 1024

export interface MessageHead {
  /** The request line or status line. */
  start: string
  /** Header names in lower case; a repeated header's values joined with ", ". */
  headers: Map<string, string>
}

/** How the body after a head is framed; `raw` ends the messages: what follows is not HTTP. */
export type BodyFraming = 'none' | 'chunked' | 'raw' | { length: number }

type State =
  | { at: 'head' }
  | { at: 'length'; left: number }
  | { at: 'chunk-size' }
  | { at: 'chunk-data'; left: number }
  | { at: 'chunk-end' }
  | { at: 'trailer' }
  | { at: 'raw' }

/** Where a framer hands on the bodies it follows, for a reader that wants them. */
export interface BodySink {
  /** Bytes of the current message's body, unchunked; after a `raw` head, everything that follows. */
  body(bytes: Uint8Array): void
  /** The current message is complete (a `raw` one never is: it ends with the connection). */
  end(): void
}

/** A message this cannot follow: the caller ends the connection rather than pass what it cannot see. */
export class FramingError extends Error {}

export class MessageFramer {
  private state: State = { at: 'head' }
  private pending: Uint8Array = new Uint8Array(0)

  /**
   * `onHead` says how the message's body is framed. `mayStart` is asked before a new head is read:
   * while it says no, bytes wait (the tunnel waits for the answer to the last request).
   */
  constructor(
    private readonly onHead: (head: MessageHead) => BodyFraming,
    private readonly mayStart: () => boolean = () => true,
    private readonly sink?: BodySink,
  ) {}

  get raw(): boolean {
    return this.state.at === 'raw'
  }

  /** What follows is not HTTP (the other direction saw the connection hijacked). */
  goRaw(): void {
    this.state = { at: 'raw' }
    this.pending = new Uint8Array(0)
  }

  /** Bytes held because a head is incomplete or may not start yet. */
  get held(): number {
    return this.pending.length
  }

  /** Takes the next bytes of the direction; throws a FramingError for bytes that are not HTTP/1.1. */
  feed(bytes: Uint8Array): void {
    if (this.state.at === 'raw') {
      if (bytes.length > 0) this.sink?.body(bytes)
      return
    }
    this.pending = this.pending.length === 0 ? bytes : concat(this.pending, bytes)
    this.run()
  }

  /** Reads on after `mayStart` may have changed its mind. */
  resume(): void {
    this.run()
  }

  private run(): void {
    let at = 0
    const data = this.pending
    while (at < data.length && this.state.at !== 'raw') {
      const used = this.step(data, at)
      if (used === 0) break
      at += used
    }
    if (this.state.at === 'raw' && at < data.length) this.sink?.body(data.subarray(at))
    this.pending = this.state.at === 'raw' ? new Uint8Array(0) : data.subarray(at)
    if (this.state.at === 'head' && this.pending.length > MAX_HEAD_BYTES) {
      throw new FramingError('a message head longer than 64 KiB')
    }
  }

  /** Consumes what it can from `at`; 0 when it needs more bytes (or may not start a head). */
  private step(data: Uint8Array, at: number): number {
    const state = this.state
    switch (state.at) {
      case 'head': {
        if (!this.mayStart()) return 0
        const end = indexOf(data, CRLF_CRLF, at)
        if (end < 0) return 0
        this.state = this.bodyState(this.onHead(parseHead(latin1(data, at, end))))
        if (this.state.at === 'head') this.sink?.end()
        return end + 4 - at
      }
      case 'length': {
        const used = Math.min(state.left, data.length - at)
        this.sink?.body(data.subarray(at, at + used))
        this.state = state.left === used ? { at: 'head' } : { at: 'length', left: state.left - used }
        if (this.state.at === 'head') this.sink?.end()
        return used
      }
      case 'chunk-size': {
        const end = indexOf(data, CRLF, at)
        if (end < 0) {
          if (data.length - at > 1024) throw new FramingError('a chunk size line longer than 1 KiB')
          return 0
        }
        const size = latin1(data, at, end).split(';')[0]?.trim() ?? ''
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new FramingError('a chunk size that is not hex')
        const left = Number.parseInt(size, 16)
        this.state = left === 0 ? { at: 'trailer' } : { at: 'chunk-data', left }
        return end + 2 - at
      }
      case 'chunk-data': {
        const used = Math.min(state.left, data.length - at)
        this.sink?.body(data.subarray(at, at + used))
        this.state = state.left === used ? { at: 'chunk-end' } : { at: 'chunk-data', left: state.left - used }
        return used
      }
      case 'chunk-end': {
        if (data.length - at < 2) return 0
        if (data[at] !== 13 || data[at + 1] !== 10) throw new FramingError('a chunk not ended by CRLF')
        this.state = { at: 'chunk-size' }
        return 2
      }
      case 'trailer': {
        const end = indexOf(data, CRLF, at)
        if (end < 0) return 0
        // The empty line ends the trailer, and the message.
        if (end === at) {
          this.state = { at: 'head' }
          this.sink?.end()
        }
        return end + 2 - at
      }
      case 'raw':
        return 0
      default:
        return state satisfies never
    }
  }

  private bodyState(framing: BodyFraming): State {
    if (framing === 'none') return { at: 'head' }
    if (framing === 'chunked') return { at: 'chunk-size' }
    if (framing === 'raw') return { at: 'raw' }
    return framing.length === 0 ? { at: 'head' } : { at: 'length', left: framing.length }
  }
}

/**
 * How a message's own headers frame its body (RFC 9112 §6): chunked, a length, or none given.
 * Both, several lengths, or a transfer coding other than chunked are refused, as Go's server does.
 */
export function declaredFraming(head: MessageHead): 'chunked' | { length: number } | null {
  const coding = head.headers.get('transfer-encoding')
  const length = head.headers.get('content-length')
  if (coding !== undefined) {
    if (coding.trim().toLowerCase() !== 'chunked') throw new FramingError(`transfer coding "${coding}"`)
    if (length !== undefined) throw new FramingError('both Transfer-Encoding and Content-Length')
    return 'chunked'
  }
  if (length === undefined) return null
  if (!/^\d{1,15}$/.test(length.trim())) throw new FramingError('a Content-Length that is not one number')
  return { length: Number(length.trim()) }
}

const CRLF = new Uint8Array([13, 10])
const CRLF_CRLF = new Uint8Array([13, 10, 13, 10])

/** Header fields in the order they go out, names as written. */
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
  const lines = [startLine]
  for (const [name, value] of headers) lines.push(`${name}: ${value}`)
  if (lines.some((line) => /[\r\n]/.test(line))) throw new FramingError('a head line holds a line break')
  lines.push('', '')
  return encoder.encode(lines.join('\r\n'))
}

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

function parseHead(text: string): MessageHead {
  const [start = '', ...lines] = text.split('\r\n')
  const headers = new Map<string, string>()
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0 || /\s/.test(line[colon - 1] ?? '')) throw new FramingError('a malformed header line')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    const seen = headers.get(name)
    headers.set(name, seen === undefined ? value : `${seen}, ${value}`)
  }
  return { start, headers }
}

function latin1(data: Uint8Array, from: number, to: number): string {
  let text = ''
  for (let i = from; i < to; i += 8192) {
    text += String.fromCharCode(...data.subarray(i, Math.min(to, i + 8192)))
  }
  return text
}

function indexOf(data: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]
  for (let i = data.indexOf(first ?? 0, from); i >= 0 && i + needle.length <= data.length; ) {
    let match = true
    for (let j = 1; j < needle.length; j++) {
      if (data[i + j] !== needle[j]) {
        match = false
        break
      }
    }
    if (match) return i
    i = data.indexOf(first ?? 0, i + 1)
  }
  return -1
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length)
  joined.set(a)
  joined.set(b, a.length)
  return joined
}
