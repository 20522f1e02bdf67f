import { once } from 'node:events'
import net from 'node:net'

import type { Upstream } from './config.ts'

/** How long a connection to a container may take before the next one is tried. */
const CONNECT_TIMEOUT_MS = 5_000
/** Containers tried for one client connection before it is closed. */
const MAX_ATTEMPTS = 3

/**
 * The agent's own TCP proxy on an app's host port, for a host without a Caddy: a proxy that forwards each connection to one of the app's current
 * containers, round robin. Switching to new containers changes where new connections go; the
 * connections in flight go on to the containers they started with. A container that refuses a
 * connection is skipped for the next one, before anything of the client's has been sent.
 */
export class AppProxy {
  private upstreams: Upstream[] = []
  private turn = 0
  /** Client connections in flight, by the container they are forwarded to. */
  private readonly inFlight = new Map<string, Set<net.Socket>>()
  private readonly drained = new Set<() => void>()

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {
    server.on('connection', (client) => this.forward(client))
  }

  /** Starts listening on `port` on every address of the host. */
  static async listen(port: number): Promise<AppProxy> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true })
    server.listen({ port })
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err
      }),
    ])
    return new AppProxy(server, port)
  }

  /** The containers new connections go to. */
  get targets(): readonly Upstream[] {
    return this.upstreams
  }

  /** Sends new connections to `upstreams` from now on. */
  route(upstreams: Upstream[]): void {
    this.upstreams = [...upstreams]
    this.turn = 0
  }

  /** Connections in flight to any of `dockerIds`. */
  openTo(dockerIds: readonly string[]): number {
    return dockerIds.reduce((sum, id) => sum + (this.inFlight.get(id)?.size ?? 0), 0)
  }

  /** Resolves once no connection to any of `dockerIds` is in flight, or after `ms`. */
  async drain(dockerIds: readonly string[], ms: number): Promise<void> {
    if (this.openTo(dockerIds) === 0) return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.drained.delete(check)
        resolve()
      }
      const check = () => {
        if (this.openTo(dockerIds) === 0) done()
      }
      const timer = setTimeout(done, ms)
      this.drained.add(check)
    })
  }

  /** Stops listening and ends every connection in flight. */
  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve))
    for (const clients of this.inFlight.values()) for (const client of clients) client.destroy()
    await closed
  }

  private pick(): Upstream | undefined {
    if (this.upstreams.length === 0) return undefined
    const upstream = this.upstreams[this.turn % this.upstreams.length]
    this.turn = (this.turn + 1) % this.upstreams.length
    return upstream
  }

  private forward(client: net.Socket, attempt = 1): void {
    client.on('error', () => client.destroy())
    const upstream = this.pick()
    if (!upstream || client.destroyed) {
      client.destroy()
      return
    }
    const server = net.connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true })
    server.setTimeout(CONNECT_TIMEOUT_MS, () => server.destroy(new Error('connect timeout')))
    const tryNext = () => {
      if (attempt < Math.min(MAX_ATTEMPTS, this.upstreams.length + 1) && !client.destroyed) {
        client.removeAllListeners('error')
        this.forward(client, attempt + 1)
      } else client.destroy()
    }
    server.once('error', tryNext)
    server.once('connect', () => {
      server.setTimeout(0)
      server.off('error', tryNext)
      server.on('error', () => client.destroy())
      client.on('error', () => server.destroy())
      this.track(upstream.dockerId, client)
      client.once('close', () => server.destroy())
      server.once('close', (hadError) => {
        // What the container sent is written out before the client's side closes.
        if (hadError || client.writableFinished || client.destroyed) client.destroy()
        else client.once('finish', () => client.destroy())
      })
      client.pipe(server)
      server.pipe(client)
      client.resume()
    })
  }

  private track(dockerId: string, client: net.Socket): void {
    let clients = this.inFlight.get(dockerId)
    if (!clients) {
      clients = new Set()
      this.inFlight.set(dockerId, clients)
    }
    clients.add(client)
    client.once('close', () => {
      clients.delete(client)
      if (clients.size === 0) this.inFlight.delete(dockerId)
      for (const check of this.drained) check()
    })
  }
}
