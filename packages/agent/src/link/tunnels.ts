import type { Duplex } from 'node:stream'
import {
  decodeTunnelData,
  encodeFrame,
  encodeTunnelData,
  STREAM_WINDOW_BYTES,
  type ToAgent,
  type ToApiBody,
} from '@berth/shared'
import WebSocket from 'ws'
import type { Docker } from '../docker/index.ts'
import { toAgentError } from '../errors.ts'
import { type Log, messageOf } from '../log.ts'
import { type AgentRuntime, runTunnelOp } from '../ops/index.ts'
import { StreamCredit } from './credit.ts'
import { sendPaced } from './send.ts'

type Call = Extract<ToAgent, { type: 'call' }>

interface Tunnel {
  controller: AbortController
  /** What Docker sent and the API has not credited back yet. */
  credit: StreamCredit
  /** The connection, once made; bytes and an eof that arrive before it wait here. */
  socket: Duplex | null
  held: Uint8Array[]
  eof: boolean
  /** Bytes written to Docker and not credited to the API yet. */
  written: number
  link: WebSocket | null
}

/**
 * The tunnels running on the agent, by call id: each is a connection its op made (to Docker's
 * socket) whose bytes go to the API as binary frames within the API's credit, and whose writes
 * from the API are credited back once written, so neither side buffers more than a window.
 */
export class LinkTunnels {
  private readonly open = new Map<string, Tunnel>()
  /** The API's flow-control window, from its welcome. */
  window: number = STREAM_WINDOW_BYTES

  constructor(private readonly options: { docker: Docker; log: Log }) {}

  start(call: Call, link: WebSocket | null, agent: AgentRuntime): void {
    const { id } = call
    if (this.open.has(id)) return
    const controller = new AbortController()
    const tunnel: Tunnel = {
      controller,
      credit: new StreamCredit(this.window),
      socket: null,
      held: [],
      eof: false,
      written: 0,
      link,
    }
    this.open.set(id, tunnel)
    let ended = false
    const end = (frame: Extract<ToApiBody, { type: 'end' }>) => {
      if (ended) return
      ended = true
      this.open.delete(id)
      tunnel.socket?.destroy()
      if (link?.readyState === WebSocket.OPEN) link.send(encodeFrame(frame))
    }
    controller.signal.addEventListener('abort', () => end({ type: 'end', id }), { once: true })
    const { docker } = this.options
    runTunnelOp(call.op, call.args, { docker, signal: controller.signal, agent })
      .then(async (socket) => {
        if (controller.signal.aborted) return socket.destroy()
        tunnel.socket = socket
        socket.on('error', (err) => this.options.log(`a Docker tunnel failed: ${messageOf(err)}`))
        for (const data of tunnel.held) this.write(id, tunnel, data)
        tunnel.held = []
        if (tunnel.eof) socket.end()
        await this.pump(id, tunnel, socket)
        end({ type: 'end', id })
      })
      .catch((err: unknown) => end({ type: 'end', id, error: toAgentError(err) }))
  }

  /** A binary frame from the API: bytes for a tunnel's connection. */
  data(frame: Uint8Array): void {
    const decoded = decodeTunnelData(frame)
    if (!decoded) {
      this.options.log('ignored a binary frame that is not a tunnel’s data')
      return
    }
    const tunnel = this.open.get(decoded.id)
    if (!tunnel || tunnel.eof) return
    // The frame's buffer is ws's own; a copy outlives it in the socket's queue.
    const data = Buffer.from(decoded.data)
    if (tunnel.socket) this.write(decoded.id, tunnel, data)
    else tunnel.held.push(data)
  }

  /** The API sends no more: the connection is shut for writing, and Docker sees the end of input. */
  eof(id: string): void {
    const tunnel = this.open.get(id)
    if (!tunnel || tunnel.eof) return
    tunnel.eof = true
    tunnel.socket?.end()
  }

  grant(id: string, bytes: number): void {
    this.open.get(id)?.credit.grant(bytes)
  }

  /** Closes a tunnel; false when no tunnel has that id. */
  cancel(id: string): boolean {
    const tunnel = this.open.get(id)
    tunnel?.controller.abort()
    return tunnel !== undefined
  }

  cancelAll(): void {
    for (const { controller } of this.open.values()) controller.abort()
  }

  /** Docker's bytes to the API, as the API's credit allows; resolves when Docker closed its side. */
  private async pump(id: string, tunnel: Tunnel, socket: Duplex): Promise<void> {
    const { signal } = tunnel.controller
    try {
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        await tunnel.credit.take(chunk.length, signal)
        if (signal.aborted) return
        await sendPaced(tunnel.link, encodeTunnelData(id, chunk), signal)
      }
    } catch (err) {
      if (!signal.aborted) throw err
    }
  }

  /** Writes the API's bytes to Docker, and credits them back once written (in batches). */
  private write(id: string, tunnel: Tunnel, data: Uint8Array): void {
    const socket = tunnel.socket
    if (!socket || socket.destroyed) return
    socket.write(data, (err) => {
      if (err || !this.open.has(id)) return
      tunnel.written += data.length
      if (tunnel.written < this.window / 4 && socket.writableLength > 0) return
      const bytes = tunnel.written
      tunnel.written = 0
      if (tunnel.link?.readyState === WebSocket.OPEN)
        tunnel.link.send(encodeFrame({ type: 'credit', id, bytes }))
    })
  }
}
