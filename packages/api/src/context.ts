import type { Role, Scope } from '@berth/shared'
import type { Context } from 'hono'
import type { Db } from './db/index.ts'
import type { Hub } from './hub/hub.ts'

export interface Config {
  version: string
  jwtSecret: string
  jwtTtlSeconds: number
  openRegistration: boolean
  maxBodyBytes: number
  /** How often agents heartbeat; a link silent for three intervals is dropped. */
  heartbeatMs: number
  callTimeoutMs: number
  /** How often agents sample the stats of running containers. */
  statsIntervalMs: number
  /** How long stats samples are kept. */
  statsRetentionSeconds: number
  enrollmentTtlSeconds: number
  /** How long audit entries and webhook deliveries are kept, in days. */
  auditRetentionDays: number
  /** The URL agents and users reach the API at; taken from the request when not set. */
  publicUrl: string | null
  /** BERTH_SECRET_KEY: what app secrets, deploy keys and webhook secrets are encrypted with. */
  secretKey: string
  /** The largest tarball `POST /apps/:id/deploy` takes. */
  maxUploadBytes: number
  /** Caps on a build when the app sets none: memory in bytes, and CPUs (null: 3/4 of the server's). */
  buildMemory: number
  buildCpus: number | null
  /** A stream whose reader takes nothing for this long while output waits is cut off. */
  streamStallMs: number
  /** Open WebSockets (terminals, realtime sockets) a user may hold at once on an API instance. */
  maxSocketsPerUser: number
  /** Open streams (terminals, log follows, realtime subscriptions) a user may hold at once on an API instance. */
  maxStreamsPerUser: number
  /** How often a followed deployment is read again when nothing woke its follows (their wake source is lost). */
  followFallbackMs: number
}

export interface Clock {
  now(): number
}

/** A client's WebSocket, as routes use it whatever the runtime. */
export interface ClientSocket {
  send(text: string): void
  /** A binary message (the Docker tunnel's bytes). */
  sendBytes(data: Uint8Array): void
  close(code: number, reason: string): void
  /** Bytes queued to the client and not yet sent: how far behind a slow reader is. */
  buffered(): number
}

/** A connection's bytes both ways: a client's raw socket after an upgrade, or a tunnel to a host's socket. */
export interface RawConnection {
  /** What the other end sends; it ends when that end stops sending (a half-close). */
  readonly readable: ReadableStream<Uint8Array>
  /** What goes to the other end; closing it half-closes the connection. */
  readonly writable: WritableStream<Uint8Array>
  /** Ends the connection both ways at once. */
  close(): void
}

/** What a route does with a client's WebSocket once it is open. */
export interface ClientSocketHandlers {
  message(text: string): void
  /** A binary message; a socket whose handlers have none gets binary messages as text. */
  bytes?(data: Uint8Array): void
  /** The socket closed, from either side. */
  closed(): void
}

/** Everything the app needs from its runtime. WebCrypto is global on both runtimes, so it is not injected. */
export interface Deps {
  db: Db
  hub: Hub
  config: Config
  clock: Clock
  /** The client's address as the runtime knows it (socket address on Node, CF-Connecting-IP on Workers). */
  clientAddress(c: Context): string | null
  /** Keeps work going after the response (Workers' waitUntil; on Node the promise simply runs). */
  waitUntil(c: Context, work: Promise<unknown>): void
  /**
   * Takes over a client's WebSocket upgrade; `protocol` is the subprotocol to answer with (one
   * the client offered). `open` wires the socket once it is open. Throws a validation_error
   * when the request is not an upgrade.
   */
  upgradeClient(
    c: Context,
    protocol: string | null,
    open: (socket: ClientSocket) => ClientSocketHandlers,
  ): Response | Promise<Response>
  /**
   * Takes over the raw connection of an HTTP upgrade request other than a WebSocket (Docker's
   * `Upgrade: tcp`): `open` gets the client's bytes after the request head and a sink to its
   * socket, and may resolve with a response for the runtime to write there instead. Throws a
   * validation_error (`upgrade_unsupported`) where the runtime cannot hand one over (Workers).
   */
  upgradeRaw(c: Context, open: (client: RawConnection) => Promise<Response | undefined>): Response
  /** The bundled agent, served for the ready-to-paste install commands; null when the runtime has none. */
  agentBundle(): Promise<Uint8Array | null>
  /** The bundled `berth` CLI, served at /cli/download; null when the runtime has none. */
  cliBundle(): Promise<Uint8Array | null>
  /**
   * A streamed response body of a known length, so that it goes out with its Content-Length
   * (Workers sends any other stream chunked). It errors if the stream ends short or runs over.
   */
  sizedBody(body: ReadableStream<Uint8Array>, bytes: number): ReadableStream<Uint8Array>
  /**
   * Sets a response header at the runtime's own layer, before the app's response exists; false
   * where there is no such layer for this request (then the app sets it on its Response).
   */
  presetHeader(c: Context, name: string, value: string): boolean
}

export type Level = 'read' | 'write' | 'admin'

/** Who is making a request. */
export type Actor =
  | { type: 'user'; userId: string; role: Role }
  | {
      type: 'token'
      userId: string
      role: Role
      tokenId: string
      scopes: Scope[]
      /** The servers the token may open Docker on, with the docker scope. */
      dockerServers: string[]
      /** Unix ms, or null for a token that does not expire. */
      expiresAt: number | null
    }

/** What a service gets: its dependencies and, for user requests, who is acting. */
export interface ServiceContext {
  db: Db
  hub: Hub
  config: Config
  clock: Clock
}

export interface ActorContext extends ServiceContext {
  actor: Actor
}

export interface AppEnv {
  Variables: {
    requestId: string
    deps: Deps
    actor: Actor | undefined
    /** The credential the actor was read from, for what re-checks it while open. */
    bearer: string | undefined
    auditTarget: string | undefined
    agentServerId: string | undefined
  }
}
