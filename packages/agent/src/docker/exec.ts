import { createdReply, type ExecInspect, execInspect } from './replies.ts'
import { type OutputStream, outputOf } from './streams.ts'
import type { Transport } from './transport.ts'

/** Commands run in running containers. */
export interface ExecClient {
  /** Prepares a command to run in a running container (an argument array, no shell); returns the exec's id. */
  createExec(ref: string, spec: ExecSpec, signal?: AbortSignal): Promise<string>
  /** Starts an exec and gives its stdout and stderr demultiplexed; aborting `signal` closes the stream. */
  startExec(id: string, signal: AbortSignal): Promise<OutputStream>
  /**
   * Starts an exec made with `stdin` on a hijacked connection: its output as pieces (raw stdout with a
   * tty) and its stdin to write to. Destroying it or aborting `signal` closes the connection.
   */
  attachExec(id: string, tty: boolean, signal: AbortSignal): Promise<ExecAttachment>
  /** Sets the size of a running exec's tty. */
  resizeExec(id: string, size: TtySize, signal?: AbortSignal): Promise<void>
  /** An exec's state; `ExitCode` is set once it has ended. */
  inspectExec(id: string, signal?: AbortSignal): Promise<ExecInspect>
}

export interface ExecSpec {
  cmd: string[]
  /** `NAME=value` entries on top of the container's environment. */
  env?: string[]
  /** Attaches the process's stdin, for attachExec. */
  stdin?: boolean
  tty?: boolean
  user?: string
  workdir?: string
}

export interface ExecAttachment extends OutputStream {
  /** Writes to the process's stdin; nothing once the connection is closed. */
  write(data: Buffer): void
}

export interface TtySize {
  cols: number
  rows: number
}

const exec = (id: string) => `/exec/${encodeURIComponent(id)}`

export function execClient(docker: Transport): ExecClient {
  const { send, act, open } = docker
  return {
    async createExec(ref, spec, signal) {
      const body = {
        Cmd: spec.cmd,
        Env: spec.env,
        User: spec.user,
        WorkingDir: spec.workdir,
        AttachStdin: spec.stdin === true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: spec.tty === true,
      }
      const path = `/containers/${encodeURIComponent(ref)}/exec`
      const reply = await send({ method: 'POST', path, body, signal }, createdReply)
      return reply.Id
    },
    async startExec(id, signal) {
      const body = { Detach: false, Tty: false }
      const reply = await open({ method: 'POST', path: `${exec(id)}/start`, body, signal })
      return outputOf(reply.body, docker.demux, signal)
    },
    async attachExec(id, tty, signal) {
      const body = { Detach: false, Tty: tty }
      const socket = await docker.hijack({ method: 'POST', path: `${exec(id)}/start`, body, signal })
      const output = outputOf(socket, tty ? null : docker.demux, signal)
      return Object.assign(output, {
        write(data: Buffer) {
          if (socket.writable) socket.write(data)
        },
      })
    },
    resizeExec: (id, { cols, rows }, signal) =>
      act({ method: 'POST', path: `${exec(id)}/resize`, query: { h: rows, w: cols }, signal }),
    inspectExec: (id, signal) => send({ method: 'GET', path: `${exec(id)}/json`, signal }, execInspect),
  }
}
