import type { ErrorCode, ErrorKind } from '@berth/shared'
import { ApiError } from '../../errors.ts'
import type { AgentStream, StreamChunk, StreamControl } from '../../hub/hub.ts'

// What crosses the boundary between the worker and the AgentHub Durable Object. RPC keeps only
// an exception's message, so ApiErrors travel as values and are rebuilt with their kind and code.

export interface WireError {
  kind: ErrorKind
  message: string
  code: ErrorCode | ErrorKind
  details?: unknown
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError }

export function toWire(err: unknown): WireError {
  if (err instanceof ApiError) {
    const wire: WireError = { kind: err.kind, message: err.message, code: err.code }
    if (err.details !== undefined) wire.details = err.details
    return wire
  }
  // Same rule as the HTTP error body: an unexpected exception's text is not shown.
  return { kind: 'internal', message: 'internal error', code: 'internal' }
}

export function fromWire(wire: WireError): ApiError {
  return new ApiError(wire.kind, wire.message, wire.details === undefined ? { code: wire.code } : wire)
}

export async function settle<T>(work: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() }
  } catch (err) {
    return { ok: false, error: toWire(err) }
  }
}

/** One line of a stream's wire form: newline-delimited JSON. */
type StreamLine =
  | { t: 'chunk'; chunk: StreamChunk }
  | { t: 'end'; exitCode?: number }
  | { t: 'error'; error: WireError }

/**
 * An AgentStream as bytes, for an RPC return value. Pumped through a writer rather than pulled:
 * when the worker's request goes away (the client left), the write fails here, in the Durable
 * Object, and that cancels the stream on the host; a source's cancel() is not always called then.
 */
export function streamToLines(stream: AgentStream, done: () => void = () => {}): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  const { readable, writable } = new IdentityTransformStream()
  const writer = writable.getWriter()
  let readerGone = false
  const send = async (l: StreamLine) => {
    try {
      await writer.write(encoder.encode(`${JSON.stringify(l)}\n`))
    } catch (err) {
      readerGone = true
      throw err
    }
  }
  void (async () => {
    try {
      // Leaving this loop early (a failed write) cancels the stream: see ChunkQueue's iterator.
      for await (const chunk of stream) await send({ t: 'chunk', chunk })
      await send(stream.exitCode === undefined ? { t: 'end' } : { t: 'end', exitCode: stream.exitCode })
      await writer.close()
    } catch (err) {
      stream.cancel()
      if (readerGone) return
      await send({ t: 'error', error: toWire(err) }).catch(() => {})
      await writer.close().catch(() => {})
    } finally {
      done()
    }
  })()
  return readable
}

/** The worker's side of streamToLines: an AgentStream read from the bytes. */
export class LineStream implements AgentStream {
  exitCode: number | undefined
  private ended = false
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>

  /**
   * `send` carries control messages to the Durable Object that holds the stream, and `stop`
   * cancels it there: a stream with no output would not notice its reader is gone.
   */
  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly send: (message: StreamControl) => Promise<void> = async () => {},
    private readonly stop: () => Promise<void> = async () => {},
  ) {
    this.reader = body.getReader()
  }

  control(message: StreamControl): void {
    if (!this.ended) this.send(message).catch(() => {})
  }

  cancel(): void {
    if (this.ended) return
    this.ended = true
    this.reader.cancel().catch(() => {})
    this.stop().catch(() => {})
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    const decoder = new TextDecoder()
    let buffered = ''
    try {
      while (!this.ended) {
        const { value, done } = await this.reader.read()
        if (done) break
        buffered += decoder.decode(value, { stream: true })
        let newline = buffered.indexOf('\n')
        while (newline >= 0) {
          const l = JSON.parse(buffered.slice(0, newline)) as StreamLine
          buffered = buffered.slice(newline + 1)
          newline = buffered.indexOf('\n')
          if (l.t === 'chunk') {
            yield l.chunk
            continue
          }
          this.ended = true
          if (l.t === 'error') throw fromWire(l.error)
          this.exitCode = l.exitCode
          return
        }
      }
      if (!this.ended) throw new ApiError('agent_offline', 'the agent stream ended without its end')
    } finally {
      // A reader that stops early (break, client gone) stops the work on the host.
      if (!this.ended) this.cancel()
    }
  }
}
