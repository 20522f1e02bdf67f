import type { ActorContext, RawConnection } from '../context.ts'
import { ApiError } from '../errors.ts'
import type { AnswerSink } from '../lib/docker-calls.ts'
import {
  type BodyFraming,
  chunkedEncoder,
  endToEnd,
  FramingError,
  type HeaderList,
  httpHead,
  type MessageHead,
} from '../lib/http-framing.ts'
import { endWhenRefused } from './clients.ts'
import { type DockerTunnel, openDockerTunnel } from './docker.ts'
import { assertDockerAccess } from './docker-access.ts'

// Docker's Engine API over plain HTTP: each request to /servers/:id/docker-api/… is written as an
// HTTP/1.1 request on its own connection to the host's Docker socket, and Docker's answer is
// read back (by the connection's conversation, which audits it) and streamed to the client. An
// `Upgrade: tcp` request (attach, exec start) is spliced to the client's raw connection once
// Docker answers 101.

/** A client's request as it is relayed: `target` is the path after docker-api, with its query. */
export interface DockerRequest {
  method: string
  target: string
  headers: Headers
  body: ReadableStream<Uint8Array> | null
}

/** Docker's response: its status, its end-to-end fields, its body as it arrives. */
export interface DockerResponse {
  status: number
  headers: HeaderList
  /** The body's length when Docker declared it. */
  length: number | null
  body: ReadableStream<Uint8Array> | null
}

/** Where a request comes from and who sends it, for the session and the audit log. */
interface Opening {
  serverId: string
  bearer: string
  requestId: string
  ip: string | null
}

/** Fields never passed to Docker: Berth's credential, and what the relay frames itself. */
const NOT_FORWARDED = new Set(['authorization', 'host', 'content-length', 'expect'])

/** Fields never passed back: how Docker framed its body, which the relay's own response frames again. */
const NOT_RETURNED = new Set(['content-length'])

/**
 * Relays one request to a server's Docker on a connection of its own, closed when the response
 * ends, the client goes away, or the credential no longer opens Docker there.
 */
export async function relayDockerRequest(
  ctx: ActorContext,
  input: Opening & { request: DockerRequest },
): Promise<DockerResponse> {
  const { request } = input
  const { head, body } = framing(request, [])
  const link = await openLink(ctx, input)
  try {
    await link.send(head)
    // Not closed after the body: Docker takes a half-closed connection as a client gone and stops.
    if (body) void pipeBody(body, link.send).catch(link.finish)
    const answer = await link.answer()
    const length = answer.headers.get('content-length')
    const stream = answer.framing === 'none' ? null : link.body()
    if (!stream) link.finish()
    return {
      status: answer.status,
      headers: returned(answer.headers),
      length: length === undefined ? null : Number(length),
      body: stream,
    }
  } catch (err) {
    link.finish()
    throw err
  }
}

/**
 * Relays an `Upgrade: tcp` request from a client's raw connection: writes Docker's answer to it,
 * and after a 101 moves bytes both ways until both sides ended (the client's end half-closes
 * Docker's side: stdin's end). Throws only before anything was written to the client.
 */
export async function spliceDockerUpgrade(
  ctx: ActorContext,
  input: Opening & { request: Omit<DockerRequest, 'body'>; client: RawConnection },
): Promise<void> {
  const { request, client } = input
  const length = declaredLength(request.headers)
  const { head } = framing({ ...request, body: null }, [
    ['Connection', 'Upgrade'],
    ['Upgrade', 'tcp'],
  ])
  const link = await openLink(ctx, input)
  const fromClient = client.readable.getReader()
  let answer: Answer
  // The request's own body first; anything after it waits until Docker has switched protocols.
  let early: Uint8Array
  try {
    await link.send(head)
    early = await sendExactly(fromClient, link.send, length ?? 0)
    answer = await link.answer()
  } catch (err) {
    link.finish()
    throw err
  }
  const switched = answer.status === 101
  const toClient = client.writable.getWriter()
  try {
    await toClient.write(
      httpHead(`HTTP/1.1 ${answer.status} ${answer.reason}`, [
        ...returned(answer.headers),
        ...((switched
          ? [
              ['Connection', 'Upgrade'],
              ['Upgrade', 'tcp'],
            ]
          : [['Connection', 'close']]) as HeaderList),
      ]),
    )
    const downstream = pipeTo(link.body(), toClient)
    if (switched) {
      // Not awaited: once Docker ended the connection, what the client still sends has nowhere to go.
      void (async () => {
        if (early.length > 0) await link.send(early)
        for (;;) {
          const next = await fromClient.read()
          if (next.done) break
          await link.send(next.value)
        }
        await link.endInput()
      })().catch(() => {})
    }
    await downstream
  } catch {
    // Either side went away: both are closed below.
  } finally {
    link.finish()
    client.close()
  }
}

/** Docker's answer head, as the conversation read it. */
interface Answer {
  status: number
  reason: string
  headers: Map<string, string>
  framing: BodyFraming
}

/** What the relays do with one Docker connection. */
interface Link {
  /** Writes request bytes (the conversation sees them first). */
  send(bytes: Uint8Array): Promise<void>
  /** Half-closes the connection (after an upgrade: stdin's end). */
  endInput(): Promise<void>
  /** Resolves with Docker's answer head. */
  answer(): Promise<Answer>
  /** The answer's body (after a 101: the upgraded stream), read on demand; cancelling it finishes the link. */
  body(): ReadableStream<Uint8Array>
  /** Ends the connection and its session, once. */
  finish(): void
}

/** Opens a connection for one request, whose answer the conversation hands to a queue read on demand. */
async function openLink(ctx: ActorContext, input: Opening): Promise<Link> {
  let answer: Answer | undefined
  const chunks: Uint8Array[] = []
  let ended = false
  const answers: AnswerSink = {
    head: (status, head, framing) => {
      answer = { status, reason: reasonOf(head), headers: head.headers, framing }
    },
    body: (bytes) => chunks.push(bytes),
    end: () => {
      ended = true
    },
  }
  const opened: DockerTunnel = await openDockerTunnel(ctx, { ...input, answers, session: false })
  const { tunnel, conversation } = opened
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    opened.finish()
    tunnel.close()
    opened.hold.release()
  }
  // Docker is root on the host: a request still running ends once its credential no longer opens it.
  endWhenRefused(opened.hold, {
    level: 'admin',
    check: (actor) => assertDockerAccess(actor, input.serverId),
    refused: finish,
  })
  const writer = tunnel.writable.getWriter()
  const reader = tunnel.readable.getReader()
  /** Reads Docker's next bytes into the conversation; false once the connection ended. */
  const pump = async (): Promise<boolean> => {
    const next = await reader.read()
    if (next.done) {
      if (answer?.framing === 'raw') ended = true
      if (!ended)
        throw badResponse(
          answer ? 'the connection ended in the answer' : 'the connection ended before an answer',
        )
      return false
    }
    try {
      conversation.fromDocker(next.value)
    } catch (err) {
      if (err instanceof FramingError) throw badResponse(err.message)
      throw err
    }
    return true
  }
  return {
    send: async (bytes) => {
      conversation.fromClient(bytes)
      await writer.write(bytes)
    },
    endInput: () => writer.close(),
    answer: async () => {
      while (!answer) await pump()
      return answer
    },
    body: () =>
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            while (chunks.length === 0 && !ended) await pump()
          } catch (err) {
            finish()
            controller.error(err)
            return
          }
          const chunk = chunks.shift()
          if (chunk) controller.enqueue(chunk)
          else {
            controller.close()
            finish()
          }
        },
        cancel: finish,
      }),
    finish,
  }
}

/** A request's head as written to Docker, and its body framed for it (chunked when no length was given). */
function framing(request: DockerRequest, extra: HeaderList) {
  const length = declaredLength(request.headers)
  const headers: HeaderList = [['Host', 'docker']]
  for (const [name, value] of endToEnd(request.headers)) {
    if (!NOT_FORWARDED.has(name.toLowerCase())) headers.push([name, value])
  }
  let body = request.body
  if (length !== null) headers.push(['Content-Length', String(length)])
  else if (body) {
    headers.push(['Transfer-Encoding', 'chunked'])
    body = body.pipeThrough(chunkedEncoder())
  }
  const head = httpHead(`${request.method} ${request.target} HTTP/1.1`, [...headers, ...extra])
  return { head, body: length === 0 ? null : body }
}

async function pipeBody(body: ReadableStream<Uint8Array>, send: (bytes: Uint8Array) => Promise<void>) {
  const reader = body.getReader()
  for (;;) {
    const next = await reader.read()
    if (next.done) return
    await send(next.value)
  }
}

async function pipeTo(body: ReadableStream<Uint8Array>, writer: WritableStreamDefaultWriter<Uint8Array>) {
  await pipeBody(body, (bytes) => writer.write(bytes))
  await writer.close()
}

/** Passes exactly `count` bytes from `reader` on; returns what it read past them. */
async function sendExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  send: (bytes: Uint8Array) => Promise<void>,
  count: number,
): Promise<Uint8Array> {
  let left = count
  while (left > 0) {
    const next = await reader.read()
    if (next.done) {
      throw new ApiError('validation_error', 'the request body ended short of its Content-Length', {
        code: 'malformed_request',
      })
    }
    const piece = next.value
    await send(piece.subarray(0, Math.min(left, piece.length)))
    if (piece.length > left) return piece.subarray(left)
    left -= piece.length
  }
  return new Uint8Array(0)
}

/** The Content-Length a request declares, null when none; a malformed one is the client's 400. */
function declaredLength(headers: Headers): number | null {
  const value = headers.get('content-length')
  if (value === null) return null
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new ApiError('validation_error', 'the Content-Length header is not a number', {
      code: 'malformed_request',
    })
  }
  return Number(value.trim())
}

/** Docker's end-to-end fields, as they go back to the client. */
function returned(headers: Map<string, string>): HeaderList {
  return endToEnd(headers).filter(([name]) => !NOT_RETURNED.has(name))
}

function reasonOf(head: MessageHead): string {
  return head.start.split(' ').slice(2).join(' ')
}

const badResponse = (why: string) =>
  new ApiError('agent_error', `Docker's answer could not be read: ${why}`, { code: 'docker_bad_response' })
