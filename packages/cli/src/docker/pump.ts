import type { Socket } from 'node:net'
import type { ErrorBody } from '@berth/client'
import { DOCKER_TUNNEL_MESSAGE_BYTES, DOCKER_TUNNEL_WINDOW_BYTES, dockerTunnelFrame } from '@berth/shared'
import type WebSocket from 'ws'

// One local Docker connection moved over one tunnel WebSocket, both ways, bytes unchanged (see
// packages/shared/src/docker.ts): each side keeps at most a window of bytes not yet credited back,
// credits what it wrote to its socket, and half-closes with `eof`.

const OPEN = 1

export interface PumpOptions {
  /** The API's `error` frame (its error body), or a close that said why no other way. */
  onError(body: ErrorBody): void
  window?: number
}

/** Moves bytes between `local` and `remote` (already open) until both have closed. */
export function pump(local: Socket, remote: WebSocket, options: PumpOptions): Promise<void> {
  const window = options.window ?? DOCKER_TUNNEL_WINDOW_BYTES
  const queue: Buffer[] = []
  let unacked = 0 // sent to the API, not credited back yet
  let held = 0 // received from the API, not written to the local socket yet
  let localEnded = false
  let eofSent = false
  let failed = false

  const sendFrame = (frame: object) => {
    if (remote.readyState === OPEN) remote.send(JSON.stringify(frame))
  }
  const fail = (body: ErrorBody) => {
    if (failed) return
    failed = true
    options.onError(body)
  }

  // Sends what the window allows, in messages no larger than the contract's; holds the rest.
  const flush = () => {
    while (queue.length > 0 && unacked < window && remote.readyState === OPEN) {
      const room = Math.min(window - unacked, DOCKER_TUNNEL_MESSAGE_BYTES)
      let chunk = queue[0]!
      if (chunk.length > room) {
        queue[0] = chunk.subarray(room)
        chunk = chunk.subarray(0, room)
      } else queue.shift()
      unacked += chunk.length
      remote.send(chunk, { binary: true })
    }
    if (queue.length > 0) local.pause()
    else if (!localEnded) local.resume()
    else if (!eofSent) {
      eofSent = true
      sendFrame({ type: 'eof' })
    }
  }

  const fromRemote = (data: WebSocket.RawData, binary: boolean) => {
    if (binary) {
      const bytes = data as Buffer
      held += bytes.length
      if (held > window) return remote.close(1008, 'past the window')
      local.write(bytes, (err) => {
        held -= bytes.length
        if (!err) sendFrame({ type: 'credit', bytes: bytes.length })
      })
      return
    }
    const frame = parseText(String(data))
    if (!frame) return remote.close(1008, 'a bad frame')
    if (frame.type === 'error') return fail(frame.error)
    if (frame.type === 'eof') return local.end()
    unacked -= frame.bytes
    flush()
  }

  return new Promise((resolve) => {
    let open = 2
    const closed = () => {
      if (--open === 0) resolve()
    }
    local.on('data', (chunk: Buffer) => {
      queue.push(chunk)
      flush()
    })
    local.on('end', () => {
      localEnded = true
      flush()
    })
    // A local client that went away (or reset) ends its tunnel; the close below follows.
    local.on('error', () => {})
    local.once('close', () => {
      if (remote.readyState === OPEN) remote.close(1000)
      closed()
    })
    remote.on('message', fromRemote)
    remote.once('close', (code: number, reason: Buffer) => {
      if (code !== 1000 && code !== 1005) {
        const why = reason.length > 0 ? `: ${reason}` : ''
        fail(tunnelClosed(`the Docker connection through Berth closed (${code}${why})`))
      }
      // Docker ended it: what it wrote still reaches the local client. Anything else cuts it.
      if (code === 1000 && !failed) local.end()
      else local.destroy()
      closed()
    })
    remote.on('error', () => local.destroy())
    local.resume()
  })
}

type TextFrame = ReturnType<typeof dockerTunnelFrame.parse> | { type: 'error'; error: ErrorBody }

function parseText(text: string): TextFrame | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const error = (value as { type?: unknown; error?: Partial<ErrorBody> } | null) ?? {}
  if (error.type === 'error' && typeof error.error?.message === 'string') {
    return { type: 'error', error: error.error as ErrorBody }
  }
  const frame = dockerTunnelFrame.safeParse(value)
  return frame.success ? frame.data : undefined
}

function tunnelClosed(message: string): ErrorBody {
  return {
    error: 'agent_error',
    code: 'connection_lost',
    message,
    status: 0,
    request_id: '',
    timestamp: new Date().toISOString(),
  }
}
