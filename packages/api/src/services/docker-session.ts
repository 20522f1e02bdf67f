import { DOCKER_TUNNEL_MESSAGE_BYTES, DOCKER_TUNNEL_WINDOW_BYTES, dockerTunnelFrame } from '@berth/shared'
import type { ClientSocket, ClientSocketHandlers } from '../context.ts'
import { ApiError, errorBody } from '../errors.ts'
import { FramingError } from '../lib/http-framing.ts'
import { log } from '../lib/log.ts'
import { readClientFrame } from './client-frames.ts'
import { closeFor, endWhenRefused } from './clients.ts'
import type { DockerTunnel } from './docker.ts'
import { assertDockerAccess } from './docker-access.ts'

/** Credit goes back to the client in batches of this much, or at once when all it sent is written. */
const CREDIT_BATCH = DOCKER_TUNNEL_WINDOW_BYTES / 4

/**
 * Joins a client's WebSocket to a Docker connection on the host (see @berth/shared's docker.ts):
 * binary messages both ways, each way within the window the other side credits. The client's
 * bytes are credited once written into the tunnel, whose own window waits on the agent's writes
 * to Docker; Docker's go to the client only as it credits them. So a slow side slows the other,
 * and nothing here holds more than the windows. Returns the socket's handlers and the pump.
 */
export function dockerSession({
  opened,
  socket,
  ids,
}: {
  opened: DockerTunnel
  socket: ClientSocket
  ids: { requestId: string; now: () => number }
}): { handlers: ClientSocketHandlers; done: Promise<void> } {
  const { tunnel, hold, conversation } = opened
  const writer = tunnel.writable.getWriter()
  let open = true
  /** Bytes sent to the client that it has not credited; and the wait for its credit. */
  let toClient = 0
  let wakeSender: (() => void) | null = null
  /** Bytes from the client not yet written into the tunnel, and written but not credited. */
  let fromClient = 0
  let creditDue = 0

  /** Ends the session on this side, once: the hold, the audit of unanswered calls, the tunnel. */
  const stop = (): boolean => {
    if (!open) return false
    open = false
    hold.release()
    opened.finish()
    tunnel.close()
    writer.releaseLock()
    wakeSender?.()
    return true
  }
  const end = (code: number, reason: string) => {
    if (stop()) socket.close(code, reason)
  }
  const fail = (err: ApiError, code: number, reason: string) => {
    if (!open) return
    socket.send(JSON.stringify({ type: 'error', error: errorBody(err, ids.requestId, ids.now()) }))
    end(code, reason)
  }
  const violation = (message: string) =>
    fail(new ApiError('validation_error', message), 1008, 'protocol violation')

  // Docker is root on the host: the session ends once its credential no longer opens Docker there.
  endWhenRefused(hold, {
    level: 'admin',
    check: (actor) => assertDockerAccess(actor, opened.serverId),
    refused: (refusal) => {
      const close = closeFor(refusal)
      fail(refusal, close.code, close.reason)
    },
  })

  const done = (async () => {
    const reader = tunnel.readable.getReader()
    try {
      while (open) {
        const { value, done: ended } = await reader.read()
        if (ended || !open) break
        conversation.fromDocker(value)
        for (let at = 0; at < value.length && open; at += DOCKER_TUNNEL_MESSAGE_BYTES) {
          const piece = value.subarray(at, at + DOCKER_TUNNEL_MESSAGE_BYTES)
          while (open && toClient > 0 && toClient + piece.length > DOCKER_TUNNEL_WINDOW_BYTES) {
            await new Promise<void>((resolve) => {
              wakeSender = resolve
            })
          }
          if (!open) break
          toClient += piece.length
          socket.sendBytes(piece)
        }
      }
      if (!open) return
      socket.send(JSON.stringify({ type: 'eof' }))
      end(1000, 'the Docker connection ended')
    } catch (err) {
      if (!open) return
      if (err instanceof FramingError)
        return violation(`Docker answered what Berth cannot follow: ${err.message}`)
      if (!(err instanceof ApiError)) log.error(`docker tunnel failed request_id=${ids.requestId}`, err)
      const why =
        err instanceof ApiError ? err : new ApiError('agent_offline', 'the connection to the agent ended')
      fail(why, 1011, 'error')
    } finally {
      reader.releaseLock()
    }
  })()

  const written = (bytes: number) => {
    fromClient -= bytes
    creditDue += bytes
    if (!open || (creditDue < CREDIT_BATCH && fromClient > 0)) return
    socket.send(JSON.stringify({ type: 'credit', bytes: creditDue }))
    creditDue = 0
  }

  const handlers: ClientSocketHandlers = {
    bytes(data) {
      if (!open) return
      if (fromClient + creditDue + data.length > DOCKER_TUNNEL_WINDOW_BYTES) {
        return violation('the client sent more than its window')
      }
      try {
        conversation.fromClient(data)
      } catch (err) {
        if (err instanceof FramingError)
          return violation(`not a Docker API request Berth can follow: ${err.message}`)
        throw err
      }
      fromClient += data.length
      writer.write(data).then(
        () => written(data.length),
        () => {},
      )
    },
    message(text) {
      if (!open) return
      const read = readClientFrame(dockerTunnelFrame, text)
      if ('error' in read) return fail(read.error, 1008, 'protocol violation')
      const { frame } = read
      switch (frame.type) {
        case 'credit':
          toClient = Math.max(0, toClient - frame.bytes)
          wakeSender?.()
          return
        case 'eof':
          writer.close().catch(() => {})
          return
        default:
          frame satisfies never
      }
    },
    closed() {
      stop()
    },
  }
  return { handlers, done }
}
