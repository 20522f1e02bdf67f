import type { Socket } from 'node:net'
import {
  type BerthClient,
  BerthError,
  type ErrorBody,
  openWebSocket,
  type WebSocketClass,
} from '@berth/client'
import { DOCKER_TUNNEL_PROTOCOL } from '@berth/shared'
import WebSocket from 'ws'
import { errorLine } from '../output.ts'
import { pump } from './pump.ts'

// Every local Docker connection gets a tunnel of its own to /servers/:id/docker. The first tunnel
// is opened before anything listens, so a refusal (403, 404, 503) ends the command before docker
// runs; it then carries the first connection instead of going to waste.

/** Raw bytes gain nothing from per-message compression and cost CPU both ends. */
class TunnelSocket extends WebSocket {
  constructor(url: string, protocols: string[], options: WebSocket.ClientOptions) {
    super(url, protocols, { ...options, perMessageDeflate: false })
  }
}

export class DockerRelay {
  private spare: WebSocket | undefined
  private readonly open = new Set<Socket>()
  private readonly reported = new Set<string>()

  constructor(
    private readonly client: BerthClient,
    private readonly serverId: string,
    private readonly stderr: NodeJS.WritableStream,
  ) {}

  /** Opens the first tunnel; throws the API's refusal as a BerthError. */
  async probe(): Promise<void> {
    const socket = await this.tunnel()
    this.spare = socket
    socket.once('close', () => {
      if (this.spare === socket) this.spare = undefined
    })
  }

  /** Moves one local connection's bytes through a tunnel until either end closes it. */
  async accept(local: Socket): Promise<void> {
    local.pause()
    this.open.add(local)
    local.once('close', () => this.open.delete(local))
    let remote = this.spare
    this.spare = undefined
    try {
      if (remote?.readyState !== WebSocket.OPEN) remote = await this.tunnel()
    } catch (err) {
      this.report(err instanceof BerthError ? err.body : undefined, err)
      local.destroy()
      return
    }
    if (local.destroyed) return remote.close(1000)
    await pump(local, remote, { onError: (body) => this.report(body) })
  }

  /** Cuts every connection still open and the unused first tunnel. */
  close(): void {
    this.spare?.close(1000)
    for (const local of this.open) local.destroy()
  }

  private async tunnel(): Promise<WebSocket> {
    const socket = await openWebSocket(this.client, `/servers/${this.serverId}/docker`, {
      protocol: DOCKER_TUNNEL_PROTOCOL,
      WebSocket: TunnelSocket as unknown as WebSocketClass,
      what: 'Docker connection through Berth',
    })
    return socket as unknown as WebSocket
  }

  /** An error's line on stderr, once however many connections it ends. */
  private report(body: ErrorBody | undefined, err?: unknown): void {
    const line = body ? errorLine(body) : `berth: ${err instanceof Error ? err.message : String(err)}`
    const key = body ? `${body.code} ${body.message}` : line
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.stderr.write(`${line}\n`)
  }
}
