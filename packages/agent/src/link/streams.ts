import { isUtf8 } from 'node:buffer'
import { encodeFrame, type ToAgent, type ToApiBody } from '@berth/shared'
import WebSocket from 'ws'
import type { Docker } from '../docker/index.ts'
import { toAgentError } from '../errors.ts'
import type { Log } from '../log.ts'
import type { StreamReport } from '../ops/context.ts'
import { type AgentRuntime, runStreamOp, type StreamName } from '../ops/index.ts'
import { StreamCredit } from './credit.ts'
import { sendPaced } from './send.ts'
import { type StreamControl, StreamControls } from './stream-controls.ts'

type Call = Extract<ToAgent, { type: 'call' }>
type Chunk = Extract<ToApiBody, { type: 'chunk' }>
type End = Extract<ToApiBody, { type: 'end' }>
type OpenStream = { op: string; controller: AbortController; controls: StreamControls; credit: StreamCredit }

/**
 * The streams running on the agent, by call id: each sends its output as `chunk` frames on the link
 * it was asked on, within the API's credit, then one `end`. Streams are not deduplicated or
 * remembered like calls, and run until they end or are cancelled.
 */
export class LinkStreams {
  private readonly open = new Map<string, OpenStream>()
  /** The API's flow-control window for streams; null when it sends no credits. */
  window: number | null = null

  constructor(private readonly options: { docker: Docker; log: Log }) {}

  /** The running streams as `agent.status` reports them. */
  report(): StreamReport[] {
    return [...this.open.values()].map(({ op, credit }) => ({
      op,
      sent_bytes: credit.sent,
      in_flight_bytes: credit.inFlight,
    }))
  }

  start(call: Call, link: WebSocket | null, agent: AgentRuntime): void {
    const { id } = call
    if (this.open.has(id)) {
      this.options.log(`ignored a call ${id} for a stream that is already running`)
      return
    }
    const controller = new AbortController()
    const controls = new StreamControls()
    const credit = new StreamCredit(this.window)
    this.open.set(id, { op: call.op, controller, controls, credit })
    let seq = 0
    let ended = false
    const end = (frame: End) => {
      if (ended) return
      ended = true
      if (link?.readyState === WebSocket.OPEN) link.send(encodeFrame(frame))
    }
    // A cancelled stream ends at once; its handler has destroyed Docker's stream or soon will.
    controller.signal.addEventListener('abort', () => end({ type: 'end', id }), { once: true })
    const emit = async (stream: StreamName, data: Buffer | string, encoding?: 'base64') => {
      if (ended) return
      const frame: Chunk = { type: 'chunk', id, seq: seq++, stream, ...encoded(data, encoding) }
      // Within the stream's window: a reader that does not keep up slows this stream alone.
      await credit.take(frame.data.length, controller.signal)
      if (!ended) await sendPaced(link, encodeFrame(frame), controller.signal)
    }
    const { docker, log } = this.options
    runStreamOp(call.op, call.args, {
      docker,
      signal: controller.signal,
      agent,
      log,
      emit,
      onInput: (listener) => controls.listen('input', (frame) => listener(inputBytes(frame))),
      onResize: (listener) => controls.listen('resize', ({ cols, rows }) => listener({ cols, rows })),
      onSignal: (listener) => controls.listen('signal', ({ name }) => listener(name)),
    })
      .then(
        ({ exitCode }) => end(exitCode === undefined ? { type: 'end', id } : { type: 'end', id, exitCode }),
        (err: unknown) => end({ type: 'end', id, error: toAgentError(err) }),
      )
      .finally(() => this.open.delete(id))
  }

  /** Hands a control frame to its stream; one that has ended, or never was, has nobody to hear it. */
  deliver(frame: StreamControl): void {
    this.open.get(frame.id)?.controls.deliver(frame)
  }

  grant(id: string, bytes: number): void {
    this.open.get(id)?.credit.grant(bytes)
  }

  /** Cancels a stream; false when no stream has that id. */
  cancel(id: string): boolean {
    const stream = this.open.get(id)
    stream?.controller.abort()
    return stream !== undefined
  }

  cancelAll(): void {
    for (const { controller } of this.open.values()) controller.abort()
  }
}

/** Output as frame text: UTF-8 when it is valid UTF-8 and base64 is not asked for, else base64. */
function encoded(data: Buffer | string, encoding?: 'base64'): Pick<Chunk, 'data' | 'encoding'> {
  if (encoding === 'base64') return { data: Buffer.from(data).toString('base64'), encoding }
  if (typeof data === 'string') return { data, encoding: 'utf8' }
  return isUtf8(data)
    ? { data: data.toString('utf8'), encoding: 'utf8' }
    : { data: data.toString('base64'), encoding: 'base64' }
}

function inputBytes({ data, encoding }: Extract<StreamControl, { type: 'input' }>): Buffer {
  return Buffer.from(data, encoding === 'base64' ? 'base64' : 'utf8')
}
