import { type execQuery, terminalClientFrame } from '@berth/shared'
import type { z } from 'zod'
import type { ActorContext, ClientSocket, ClientSocketHandlers } from '../context.ts'
import { ApiError, errorBody } from '../errors.ts'
import type { AgentStream } from '../hub/hub.ts'
import { log } from '../lib/log.ts'
import { readClientFrame } from './client-frames.ts'
import { type ClientHold, closeFor, endWhenRefused, holdClient } from './clients.ts'
import { type ContainerRef, findContainer } from './containers.ts'

/** Bytes queued to a terminal's client past which it counts as not reading, and is disconnected. */
export const TERMINAL_BACKLOG_BYTES = 8 * 1024 * 1024

/** A process to start in a container: the container, and the command and its settings. */
type ExecInput = ContainerRef & { query: z.output<typeof execQuery> }

/**
 * Starts a process in a container on its server (docker exec); its output is the stream. The
 * terminal is held for the user (limits, re-checks), and released if it cannot start.
 */
export async function openExec(
  ctx: ActorContext,
  { bearer, ...exec }: ExecInput & { bearer: string },
): Promise<{ stream: AgentStream; hold: ClientHold }> {
  const hold = holdClient(ctx, { bearer, socket: true, streams: 1 })
  try {
    return { stream: await startExec(ctx, exec), hold }
  } catch (err) {
    hold.release()
    throw err
  }
}

async function startExec(ctx: ActorContext, { serverId, ref, query: q }: ExecInput) {
  const row = await findContainer(ctx, { serverId, ref })
  const env = Object.fromEntries(
    (q.env ?? []).map((pair) => {
      const at = pair.indexOf('=')
      return [pair.slice(0, at), pair.slice(at + 1)]
    }),
  )
  return ctx.hub.open(serverId, 'container.exec', {
    ref: row.dockerId,
    cmd: q.cmd,
    tty: q.tty,
    cols: q.cols,
    rows: q.rows,
    ...(q.user ? { user: q.user } : {}),
    ...(q.workdir ? { workdir: q.workdir } : {}),
    env,
  })
}

/**
 * Joins a client's WebSocket to an exec stream: output goes out as `stdout`/`stderr` frames, then
 * `exit` with the process's code; `stdin`, `resize` and `signal` go in; `close` (or the socket
 * closing) ends the process on the host. A frame that is not valid is answered with an `error`
 * frame and the session goes on. Returns the socket's handlers and the pump's promise.
 */
export function terminalSession({
  stream,
  hold,
  socket,
  ids,
}: {
  stream: AgentStream
  hold: ClientHold
  socket: ClientSocket
  ids: { requestId: string; now: () => number }
}): { handlers: ClientSocketHandlers; done: Promise<void> } {
  let open = true
  const end = (code: number, reason: string) => {
    if (!open) return
    open = false
    hold.release()
    socket.close(code, reason)
  }
  const sendError = (err: ApiError) =>
    socket.send(JSON.stringify({ type: 'error', error: errorBody(err, ids.requestId, ids.now()) }))
  // A terminal runs commands: it closes once its credential no longer grants write access.
  endWhenRefused(hold, {
    level: 'write',
    refused: (refusal) => {
      if (!open) return
      stream.cancel()
      sendError(refusal)
      const close = closeFor(refusal)
      end(close.code, close.reason)
    },
  })

  const done = (async () => {
    try {
      for await (const chunk of stream) {
        if (!open) break
        socket.send(
          JSON.stringify({
            type: chunk.stream === 'stderr' ? 'stderr' : 'stdout',
            data: chunk.data,
            encoding: chunk.encoding,
          }),
        )
        if (socket.buffered() > TERMINAL_BACKLOG_BYTES) {
          stream.cancel()
          end(1008, 'the client is not reading')
          return
        }
      }
      if (!open) return
      socket.send(JSON.stringify({ type: 'exit', code: stream.exitCode ?? null }))
      end(1000, 'exited')
    } catch (err) {
      if (!open) return
      if (!(err instanceof ApiError)) log.error(`terminal failed request_id=${ids.requestId}`, err)
      sendError(
        err instanceof ApiError ? err : new ApiError('internal', `internal error (request ${ids.requestId})`),
      )
      end(1011, 'error')
    }
  })()

  const handlers: ClientSocketHandlers = {
    message(text) {
      // Frames that arrive after this side closed (a revoked credential) run nothing.
      if (!open) return
      const read = readClientFrame(terminalClientFrame, text)
      if ('error' in read) {
        sendError(read.error)
        return
      }
      const { frame } = read
      switch (frame.type) {
        case 'stdin':
          stream.control({ type: 'input', data: frame.data, encoding: frame.encoding })
          return
        case 'resize':
          stream.control({ type: 'resize', cols: frame.cols, rows: frame.rows })
          return
        case 'signal':
          stream.control({ type: 'signal', name: frame.name })
          return
        case 'close':
          stream.cancel()
          end(1000, 'closed')
          return
        default:
          frame satisfies never
      }
    },
    closed() {
      open = false
      hold.release()
      stream.cancel()
    },
  }
  return { handlers, done }
}
