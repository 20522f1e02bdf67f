import { readFile } from 'node:fs/promises'
import { setTimeout as wait } from 'node:timers/promises'
import type { OpArgs } from '@berth/shared'
import { stateRefusal } from '../containers/actions.ts'
import type { Docker, ExecAttachment, ExecInspect, TtySize } from '../docker/index.ts'
import { type Log, messageOf } from '../log.ts'
import type { OpHandlers, SignalName, StreamContext, StreamEnd } from './context.ts'

/** How long the Docker calls that follow a process to its end may take; the stream's own signal has aborted by then when cancelled. */
const FOLLOW_UP_MS = 5_000
/** How long a process whose output has ended gets to be seen as exited before it is killed. */
const EXIT_GRACE_MS = 1_000
const POLL_MS = 50
/** Docker refuses a resize until the process has started, which follows the attach by a moment. */
const RESIZE_TRIES = 10
/** What a terminal sends for a signal when the agent cannot signal the process itself. */
const CONTROL_CHARACTERS: Partial<Record<SignalName, Buffer>> = {
  INT: Buffer.from([0x03]),
  QUIT: Buffer.from([0x1c]),
}

export const execOps: Pick<OpHandlers, 'container.exec'> = {
  'container.exec': (args, ctx) => execIn(args, ctx),
}

/**
 * Runs a process in a running container with its stdin, output, tty size and signals tied to the
 * stream. A process still running when the stream is cancelled, or when its output ends, is killed.
 */
async function execIn(args: OpArgs<'container.exec'>, ctx: StreamContext): Promise<StreamEnd> {
  const { docker, signal, emit, log } = ctx
  const container = await docker.inspectContainer(args.ref, signal)
  const spec = {
    cmd: args.cmd,
    env: Object.entries(args.env).map(([name, value]) => `${name}=${value}`),
    stdin: true,
    tty: args.tty,
    ...(args.user === undefined ? {} : { user: args.user }),
    ...(args.workdir === undefined ? {} : { workdir: args.workdir }),
  }
  const id = await docker.createExec(container.Id, spec, signal).catch((err: unknown) => {
    throw stateRefusal(err)
  })
  const attachment = await docker.attachExec(id, args.tty, signal).catch((err: unknown) => {
    throw stateRefusal(err)
  })
  const running = new ExecProcess(docker, container.Id, id, args.tty, attachment, log)
  // A resize is a call to Docker and input a write on the attached socket: both go through one
  // queue, behind the first size (Docker sizes an exec's tty only once it started), so nothing
  // typed runs in a tty without its size, and what is typed after a resize runs at the new size.
  let queue: Promise<unknown> =
    args.tty && (args.cols || args.rows)
      ? running.resize({ cols: args.cols ?? 80, rows: args.rows ?? 24 }, RESIZE_TRIES)
      : Promise.resolve()
  const inOrder = (work: () => unknown) => {
    queue = queue.then(work).catch(() => {})
  }
  ctx.onInput((data) => inOrder(() => attachment.write(data)))
  ctx.onResize((size) => inOrder(() => running.resize(size)))
  ctx.onSignal((name) => void running.signal(name))
  try {
    for await (const piece of attachment) await emit(piece.stream, piece.data, 'base64')
  } catch (err) {
    if (!signal.aborted) throw err
  } finally {
    attachment.destroy()
  }
  const exited = await running.end(signal.aborted)
  return exited.ExitCode === null ? {} : { exitCode: exited.ExitCode }
}

/** An exec'd process as the agent acts on it: by Docker's exec API, and by its pid on the host. */
class ExecProcess {
  constructor(
    private readonly docker: Docker,
    private readonly containerId: string,
    private readonly id: string,
    private readonly tty: boolean,
    private readonly attachment: ExecAttachment,
    private readonly log: Log,
  ) {}

  async resize(size: TtySize, tries = 1): Promise<void> {
    if (!this.tty) return
    for (let attempt = 1; ; attempt++) {
      try {
        await this.docker.resizeExec(this.id, size, AbortSignal.timeout(FOLLOW_UP_MS))
        return
      } catch (err) {
        if (attempt >= tries) {
          this.log(`cannot resize the tty of exec ${this.id}: ${messageOf(err)}`)
          return
        }
        await wait(POLL_MS * attempt)
      }
    }
  }

  /**
   * Sends a signal as a terminal would: with a tty to its foreground process group, else to the
   * process. An agent that cannot reach the process (not on the host's pid namespace) types INT and
   * QUIT into the tty instead.
   */
  async signal(name: SignalName): Promise<void> {
    try {
      const { Running, Pid } = await this.started()
      if (!Running) return
      const target = this.tty ? -(await foregroundGroup(Pid)) : Pid
      if (await this.kill(Pid, target, `SIG${name}`)) return
      const typed = this.tty ? CONTROL_CHARACTERS[name] : undefined
      if (typed) this.attachment.write(typed)
      else this.log(`cannot send SIG${name} to exec ${this.id}: its process is not reachable from the agent`)
    } catch (err) {
      this.log(`cannot send SIG${name} to exec ${this.id}: ${messageOf(err)}`)
    }
  }

  /**
   * Waits for the process to be seen as exited, killing it (with a tty its process groups too) when
   * the stream was cancelled or it outlives its output.
   */
  async end(cancelled: boolean): Promise<ExecInspect> {
    let state = cancelled ? await this.started() : await this.exited(EXIT_GRACE_MS)
    if (state.Running) {
      if (state.Pid <= 0) state = await this.started()
      if (this.tty) {
        await this.kill(state.Pid, -(await foregroundGroup(state.Pid)), 'SIGKILL')
        await this.kill(state.Pid, -state.Pid, 'SIGKILL')
      }
      if (!(await this.kill(state.Pid, state.Pid, 'SIGKILL'))) {
        this.log(`cannot kill the process of exec ${this.id}: it is not reachable from the agent`)
      }
      state = await this.exited(FOLLOW_UP_MS)
    }
    return state
  }

  private inspect(): Promise<ExecInspect> {
    return this.docker.inspectExec(this.id, AbortSignal.timeout(FOLLOW_UP_MS))
  }

  /**
   * The exec's state once it has a pid or has ended: the attach answers before Docker starts the
   * process, and Docker marks it running before it records the pid (when the process may already
   * be seen in the container).
   */
  private started(): Promise<ExecInspect> {
    return this.polled((s) => (s.Running && s.Pid > 0) || s.ExitCode !== null, FOLLOW_UP_MS)
  }

  private exited(withinMs: number): Promise<ExecInspect> {
    return this.polled((s) => !s.Running, withinMs)
  }

  /** The exec's state once `done` holds of it, or the last one seen when `withinMs` runs out. */
  private async polled(done: (state: ExecInspect) => boolean, withinMs: number): Promise<ExecInspect> {
    const deadline = Date.now() + withinMs
    let state = await this.inspect()
    while (!done(state) && Date.now() < deadline) {
      await wait(POLL_MS)
      state = await this.inspect()
    }
    return state
  }

  /**
   * Signals `target` (a pid, or a process group as its negative) once `pid` is known to be this
   * container's process on the host: the agent may run in a pid namespace of its own, where the
   * same number is some other process.
   */
  private async kill(pid: number, target: number, name: NodeJS.Signals): Promise<boolean> {
    if (pid <= 0 || target === 0 || !(await inContainer(pid, this.containerId))) return false
    try {
      process.kill(target, name)
      return true
    } catch {
      return false
    }
  }
}

/** Whether host pid `pid`, as this agent sees pids, belongs to the container. */
async function inContainer(pid: number, containerId: string): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cgroup`, 'utf8')).includes(containerId)
  } catch {
    return false
  }
}

/** The foreground process group of the tty `pid` runs on (what ^C reaches); `pid` itself when not known. */
async function foregroundGroup(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command, which is in parentheses and may hold spaces: state ppid pgrp session tty_nr tpgid.
    const tpgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[5])
    return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : pid
  } catch {
    return pid
  }
}
