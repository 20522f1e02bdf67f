import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { type Duplex, pipeline, type Readable } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import Dockerode from 'dockerode'
import { z } from 'zod'
import { messageOf } from '../log.ts'
import { type Demux, type PieceSink, parseJson } from './streams.ts'

/** A request to Docker that failed; `status` is Docker's HTTP status, null when Docker was not reached. */
export class DockerError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message)
    this.name = 'DockerError'
  }
}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

/** One request to Docker's HTTP API. */
export interface Request {
  method: 'GET' | 'POST' | 'DELETE' | 'HEAD' | 'PUT'
  path: string
  query?: Record<string, string | number | boolean | object | undefined>
  /** Sent as JSON. */
  body?: unknown
  /** A request body streamed as is (a tar). */
  file?: Readable
  /** Statuses that mean success; 2xx when not given. */
  ok?: number[]
  signal?: AbortSignal | undefined
}

/** Docker's answer to a streamed request, once its headers have arrived. */
export interface StreamReply {
  headers: Record<string, string | string[] | undefined>
  body: Readable
}

/**
 * The one way the clients reach the engine: node:http over one keep-alive agent for every
 * request, docker-modem only to upgrade a connection (exec's stdin) and to demultiplex output.
 */
export interface Transport {
  /** Where the engine is reached, as given or as DOCKER_HOST says. */
  readonly where: string
  /** A JSON call, its reply checked against `reply`. */
  send<T>(request: Request, reply: z.ZodType<T>): Promise<T>
  /** A call whose reply body does not matter. */
  act(request: Request): Promise<void>
  /** A call answered with a stream (logs, events, progress, a tar). */
  open(request: Request): Promise<StreamReply>
  /** A call that upgrades its connection and answers with the socket. */
  hijack(request: Request): Promise<Duplex>
  /** A connection of its own to the engine, for bytes Docker's clients send as they are. */
  dial(signal: AbortSignal): Promise<Socket>
  demux: Demux
}

/** docker-modem as dockerode holds it; typed here as far as the transport uses it. */
interface Modem {
  socketPath?: unknown
  getSocketPath(): Promise<unknown>
  host?: string
  port?: number | string
  protocol?: string
  ca?: unknown
  cert?: unknown
  key?: unknown
  dial(options: Record<string, unknown>, callback: (err: unknown, data: unknown) => void): void
  demuxStream(source: Readable, stdout: PieceSink, stderr: PieceSink): void
}

const SUCCESS = [200, 201, 204]

/** As many idle connections as the agent keeps to Docker; more at once are opened and then closed. */
const MAX_IDLE_CONNECTIONS = 8

/** Where requests go: the agent that keeps connections alive and what each request adds to its options. */
interface Target {
  agent: HttpAgent
  options: { socketPath: string } | { host: string | undefined; port: number | string }
  secure: boolean
}

/**
 * The transport to Docker at `address` (a unix socket path, `unix://…`, `tcp://host:port`,
 * `http(s)://host:port`); without one, DOCKER_HOST as the Docker CLI reads it, else /var/run/docker.sock.
 */
export function openTransport(address?: string): Transport {
  const engine = address ? new Dockerode(engineOptions(address)) : new Dockerode()
  const modem = engine.modem as unknown as Modem
  const where = address ?? (process.env.DOCKER_HOST || DEFAULT_DOCKER_SOCKET)

  let target: Promise<Target> | undefined
  const connections = () => {
    target ??= targetFor(modem, where)
    return target
  }

  async function call(request: Request): Promise<IncomingMessage> {
    const reply = await exchange(await connections(), request)
    const status = reply.statusCode ?? 0
    if ((request.ok ?? SUCCESS).includes(status)) return reply
    const failure = replyBody(await textOf(reply), reply.headers['content-type'])
    const parsed = failureBody.safeParse(failure)
    const message = parsed.success ? parsed.data.message : typeof failure === 'string' ? failure.trim() : ''
    throw new DockerError(message || `Docker answered ${status}`, status)
  }

  async function send<T>(request: Request, reply: z.ZodType<T>): Promise<T> {
    let raw: unknown
    try {
      const answer = await call(request)
      raw = replyBody(await textOf(answer), answer.headers['content-type'])
    } catch (err) {
      throw toDockerError(where, err)
    }
    const parsed = reply.safeParse(raw)
    if (!parsed.success) throw new DockerError(`Docker at ${where} sent an unexpected reply`, null)
    return parsed.data
  }

  return {
    where,
    send,
    act: async (request) => {
      await send(request, z.unknown())
    },
    async open(request) {
      try {
        const body = await call(request)
        return { headers: body.headers, body }
      } catch (err) {
        throw toDockerError(where, err)
      }
    },
    hijack: (request) =>
      new Promise((resolve, reject) => {
        modem.dial(
          {
            path: `${request.path}?`,
            method: request.method,
            options: { _query: definedQuery(request.query), _body: request.body ?? {} },
            statusCodes: Object.fromEntries((request.ok ?? SUCCESS).map((status) => [status, true])),
            isStream: true,
            hijack: true,
            ...(request.signal ? { abortSignal: request.signal } : {}),
          },
          (err, data) => (err ? reject(toDockerError(where, err)) : resolve(data as Duplex)),
        )
      }),
    dial: async (signal) => {
      const { options, secure, agent } = await connections()
      const tls = secure ? (agent as HttpsAgent).options : {}
      return new Promise<Socket>((resolve, reject) => {
        const socket =
          'socketPath' in options
            ? netConnect({ path: options.socketPath })
            : secure
              ? tlsConnect({
                  ...tls,
                  host: options.host,
                  port: Number(options.port),
                  servername: options.host,
                })
              : netConnect({ host: options.host, port: Number(options.port) })
        const failed = (err: Error) => reject(toDockerError(where, err))
        const abort = () => socket.destroy(signal.reason)
        signal.addEventListener('abort', abort, { once: true })
        socket.once('error', failed)
        socket.once(secure ? 'secureConnect' : 'connect', () => {
          socket.off('error', failed)
          signal.removeEventListener('abort', abort)
          resolve(socket)
        })
      })
    },
    demux: (source, stdout, stderr) => modem.demuxStream(source, stdout, stderr),
  }
}

/**
 * One request and Docker's reply once its headers are in. An abort ends the reply's body with the
 * signal's reason; a kept-alive connection Docker closed just as it was reused is tried once more
 * on a new one when the body can be sent again.
 */
function exchange(target: Target, request: Request, retried = false): Promise<IncomingMessage> {
  const { signal, file } = request
  const json = request.body === undefined ? undefined : JSON.stringify(request.body)
  const headers: Record<string, string | number> = {}
  if (file) headers['content-type'] = 'application/tar'
  else if (json !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = Buffer.byteLength(json)
  }
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const send = target.secure ? httpsRequest : httpRequest
    const req = send({
      ...target.options,
      agent: target.agent,
      method: request.method,
      path: withQuery(request.path, request.query),
      headers,
    })
    let reply: IncomingMessage | undefined
    const abort = () => {
      reply?.destroy(signal?.reason)
      req.destroy(signal?.reason)
    }
    const settle = () => signal?.removeEventListener('abort', abort)
    signal?.addEventListener('abort', abort, { once: true })
    req.once('response', (answer) => {
      reply = answer
      answer.once('close', settle)
      resolve(answer)
    })
    // The socket's errors reach the request also after the reply has come; the reply reports them then.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (reply) return
      settle()
      const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')
      if (stale && !file && !retried && !signal?.aborted) resolve(exchange(target, request, true))
      else reject(signal?.aborted ? signal.reason : err)
    })
    // A body Docker stops reading (it answered early, or the request failed) is destroyed with it.
    if (file) pipeline(file, req, () => {})
    else req.end(json)
  })
}

function textOf(body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    body.on('data', (chunk: Buffer) => chunks.push(chunk))
    body.once('error', reject)
    body.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

/** Where the modem was set up to reach the engine: its unix socket, or its host over HTTP(S). */
async function targetFor(modem: Modem, where: string): Promise<Target> {
  const kept = { keepAlive: true, maxFreeSockets: MAX_IDLE_CONNECTIONS }
  if (modem.socketPath) {
    const socketPath = await modem.getSocketPath()
    if (typeof socketPath !== 'string') throw new DockerError(`no Docker socket found for ${where}`, null)
    return { agent: new HttpAgent(kept), options: { socketPath }, secure: false }
  }
  if (modem.protocol !== 'http' && modem.protocol !== 'https') {
    throw new DockerError(
      `cannot reach Docker at ${where}: only unix sockets and HTTP(S) are supported`,
      null,
    )
  }
  const secure = modem.protocol === 'https'
  const options = { host: modem.host, port: modem.port ?? (secure ? 2376 : 2375) }
  if (!secure) return { agent: new HttpAgent(kept), options, secure }
  // The certificates DOCKER_CERT_PATH names, as the modem loaded them.
  const tls = { ca: modem.ca, cert: modem.cert, key: modem.key } as Record<string, string | undefined>
  return { agent: new HttpsAgent({ ...kept, ...tls }), options, secure }
}

/** The query as docker-modem writes it: objects (filters) as JSON, the rest as text, undefined left out. */
function withQuery(path: string, query: Request['query']): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(definedQuery(query))) {
    params.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

function definedQuery(query: Request['query']): Record<string, string | number | boolean | object> {
  return Object.fromEntries(Object.entries(query ?? {}).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean | object
  >
}

/** Docker's reply body: JSON when it says so, else text; null when empty. */
function replyBody(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return null
  if (!String(contentType).includes('json')) return text
  return parseJson(text) ?? text
}

const failure = z.object({ statusCode: z.number().int(), json: z.unknown(), message: z.string() })
const failureBody = z.object({ message: z.string() })

function toDockerError(where: string, err: unknown): Error {
  if (err instanceof DockerError || (err instanceof Error && err.name === 'AbortError')) return err
  // The modem's failure (an upgraded call) carries Docker's message also in its text: "(HTTP code 404) reason - message".
  const failed = failure.safeParse(err)
  if (failed.success) {
    const body = failureBody.safeParse(failed.data.json)
    const message = body.success
      ? body.data.message
      : failed.data.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim()
    return new DockerError(message, failed.data.statusCode)
  }
  return new DockerError(`cannot reach Docker at ${where}: ${messageOf(err)}`, null)
}

/** Modem options for an explicit address; they override anything DOCKER_HOST would set. */
export function engineOptions(address: string): Dockerode.DockerOptions {
  const unset = { host: undefined, port: undefined, protocol: undefined } as const
  if (address.startsWith('/')) return { ...unset, socketPath: address }
  if (address.startsWith('unix://')) return { ...unset, socketPath: address.slice('unix://'.length) }
  let url: URL | null = null
  try {
    url = new URL(address)
  } catch {
    // reported below with the forms that work
  }
  if (url?.hostname && (url.protocol === 'tcp:' || url.protocol === 'http:')) {
    return { socketPath: undefined, protocol: 'http', host: url.hostname, port: url.port || 2375 }
  }
  if (url?.hostname && url.protocol === 'https:') {
    return { socketPath: undefined, protocol: 'https', host: url.hostname, port: url.port || 2376 }
  }
  throw new Error(`unsupported Docker address "${address}": give a unix socket path or tcp://host:port`)
}
