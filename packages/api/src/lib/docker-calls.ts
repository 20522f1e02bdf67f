import {
  type BodyFraming,
  type BodySink,
  declaredFraming,
  FramingError,
  MessageFramer,
  type MessageHead,
} from './http-framing.ts'

/** A call a Docker client made: its method and path, never its query, headers or body. */
export interface DockerCall {
  method: string
  path: string
  /** Docker's answer; 0 when the connection ended before it. */
  status: number
  durationMs: number
}

type Waiting = Omit<DockerCall, 'status' | 'durationMs'> & { started: number }

/** Docker's answers as a reader of them sees them: each final head, then its body and its end. */
export interface AnswerSink extends BodySink {
  /** `framing` is how the body follows: `raw` runs until the connection ends (or is the upgraded stream after a 101). */
  head(status: number, head: MessageHead, framing: BodyFraming): void
}

/** Bytes of requests that may wait for the answer to the one before; a client that sends more is not one this follows. */
const MAX_HELD_BYTES = 4 * 1024 * 1024

/**
 * Follows one Docker connection both ways and reports each call once Docker answers it. A request's
 * head is read only once the answer to the one before it has begun (Docker's clients do not
 * pipeline), so a call that hijacks the connection (attach, exec, BuildKit's session) is known to
 * have done so, from Docker's answer, before anything after it is taken for a request; a hijack
 * Docker refused leaves the connection HTTP, and the calls after it are seen too.
 * Bytes that are not HTTP this can follow throw a FramingError: the tunnel then closes.
 */
export class DockerConversation {
  /** The requests whose answer has not begun, oldest first. */
  private readonly waiting: Waiting[] = []
  private finished = false
  private readonly requests: MessageFramer
  private readonly responses: MessageFramer
  /** The answer being read is an interim one (100 Continue): its end is not the answer's. */
  private interim = false

  /** `answers`, when given, hears Docker's answers as they are read. */
  constructor(
    private readonly onCall: (call: DockerCall) => void,
    private readonly answers?: AnswerSink,
  ) {
    this.requests = new MessageFramer(
      (head) => this.request(head),
      () => this.waiting.length === 0 || this.finished,
    )
    const sink: BodySink | undefined = answers && {
      body: (bytes) => answers.body(bytes),
      end: () => {
        if (this.interim) this.interim = false
        else answers.end()
      },
    }
    this.responses = new MessageFramer((head) => this.response(head), undefined, sink)
  }

  /** The connection was hijacked: both ways carry a stream of their own now. */
  get raw(): boolean {
    return this.requests.raw
  }

  fromClient(bytes: Uint8Array): void {
    this.requests.feed(bytes)
    if (this.requests.held > MAX_HELD_BYTES) throw new FramingError('requests sent ahead of their answers')
  }

  fromDocker(bytes: Uint8Array): void {
    this.responses.feed(bytes)
  }

  /** The connection ended: the requests Docker did not answer (or that waited to be read) are reported with status 0. */
  finish(): void {
    if (this.finished) return
    this.finished = true
    try {
      this.requests.resume()
    } catch {
      // what follows the last request that could be read is not HTTP: nothing more to report
    }
    for (const call of this.waiting.splice(0)) this.report(call, 0)
  }

  private report({ method, path, started }: Waiting, status: number): void {
    this.onCall({ method, path, status, durationMs: Math.max(0, Math.round(performance.now() - started)) })
  }

  private request(head: MessageHead): BodyFraming {
    const match = /^([A-Z]{1,16}) (\/\S*) HTTP\/1\.[01]$/.exec(head.start)
    if (!match) throw new FramingError('a request line that is not HTTP/1.1')
    const [, method = '', target = ''] = match
    this.waiting.push({ method, path: target.split('?')[0]?.slice(0, 512) ?? '', started: performance.now() })
    // A request without a length or chunked coding has no body.
    return declaredFraming(head) ?? 'none'
  }

  private response(head: MessageHead): BodyFraming {
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(head.start)
    if (!match) throw new FramingError('a status line that is not HTTP/1.1')
    const status = Number(match[1])
    // 100 Continue and the like come before the answer itself.
    if (status >= 100 && status < 200 && status !== 101) {
      this.interim = true
      return 'none'
    }
    const call = this.waiting.shift()
    if (!call) throw new FramingError('an answer to no request')
    this.report(call, status)
    const method = call.method
    let framing: BodyFraming
    if (status === 101) framing = 'raw'
    else if (method === 'HEAD' || status === 204 || status === 304) framing = 'none'
    // No length and no chunks: Docker hijacked the connection (attach, exec start without Upgrade).
    else framing = declaredFraming(head) ?? 'raw'
    this.answers?.head(status, head, framing)
    if (framing === 'raw') this.requests.goRaw()
    else this.requests.resume()
    return framing
  }
}
