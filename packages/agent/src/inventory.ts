import type { ContainerSummary, containerEvent, inventoryEvent, ToApiBody } from '@berth/shared'
import type { z } from 'zod'
import { listSummaries, summaryOf } from './containers/report.ts'
import { type Docker, DockerError, type DockerEvent } from './docker/index.ts'
import { type Backoff, backoffDelay, wait } from './link/backoff.ts'
import { type Log, messageOf } from './log.ts'

/** Quiet time after a container's last event before it is reported: one `docker run` is several events. */
export const COALESCE_MS = 40
/** A container that keeps having events is still reported at least this often. */
const COALESCE_MAX_MS = 250

/** Actions that leave what a summary shows unchanged; health checks alone make exec events every interval. */
const SILENT_ACTIONS =
  /^(exec_|attach$|detach$|resize$|top$|export$|copy$|archive-path$|extract-to-dir$|commit$)/

type EventFrame = Extract<ToApiBody, { type: 'event' }>

export interface ContainerWatchOptions {
  docker: Docker
  log: Log
  /** Waits between attempts to open Docker's event stream again. */
  backoff: Backoff
  /** Whether a welcomed link is up; nothing is worth reporting while none is. */
  linkUp(): boolean
  send(frame: EventFrame): void
  coalesceMs?: number
}

interface Pending {
  action: string
  since: number
  timer: ReturnType<typeof setTimeout>
}

/**
 * Tells the API what containers this host has: a full inventory whenever a link comes up or
 * Docker's event stream opens again, and one `container` event per container after each burst of
 * Docker events. All reports go out one at a time in the order they were made, each inspected
 * when it is sent, so a later frame never carries an older state than an earlier one.
 */
export class ContainerWatch {
  private readonly pending = new Map<string, Pending>()
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly options: ContainerWatchOptions) {}

  /** Follows Docker's container events until `signal` aborts, opening the stream again with backoff when it drops. */
  async run(signal: AbortSignal): Promise<void> {
    const { docker, log, backoff } = this.options
    let attempt = 0
    while (!signal.aborted) {
      try {
        const events = await docker.containerEvents(signal)
        attempt = 0
        // What happened while the stream was closed is known only from a full inventory.
        this.sendInventory()
        for await (const event of events) this.observe(event)
        if (!signal.aborted) log('Docker closed its event stream; opening it again')
      } catch (err) {
        if (!signal.aborted) log(`cannot follow Docker's events: ${messageOf(err)}`)
      }
      if (signal.aborted) break
      await wait(backoffDelay(attempt++, backoff), signal)
    }
    for (const { timer } of this.pending.values()) clearTimeout(timer)
    this.pending.clear()
  }

  /** Queues a full inventory for the link that is up. */
  sendInventory(): void {
    this.enqueue(async () => {
      const at = Date.now()
      const containers = await listSummaries(this.options.docker)
      const data: z.infer<typeof inventoryEvent> = { containers }
      this.options.send({ type: 'event', kind: 'inventory', at, data })
    })
  }

  private observe(event: DockerEvent): void {
    if (event.Type !== 'container' || SILENT_ACTIONS.test(event.Action)) return
    const id = event.Actor.ID
    // "health_status: healthy" and the like: the detail is in the summary.
    const action = (event.Action.split(':')[0] ?? event.Action).trim().slice(0, 64)
    const pending = this.pending.get(id)
    if (pending) {
      pending.action = action
      if (Date.now() - pending.since < COALESCE_MAX_MS) pending.timer.refresh()
      return
    }
    const timer = setTimeout(() => this.report(id), this.options.coalesceMs ?? COALESCE_MS)
    this.pending.set(id, { action, since: Date.now(), timer })
  }

  private report(id: string): void {
    const pending = this.pending.get(id)
    if (!pending) return
    this.pending.delete(id)
    this.enqueue(async () => {
      const at = Date.now()
      let container: ContainerSummary | null
      try {
        container = summaryOf(await this.options.docker.inspectContainer(id))
      } catch (err) {
        if (!(err instanceof DockerError && err.status === 404)) throw err
        container = null
      }
      const data: z.infer<typeof containerEvent> = { action: pending.action, docker_id: id, container }
      this.options.send({ type: 'event', kind: 'container', at, data })
    })
  }

  /** Runs `report` after every report queued before it; skipped when no link is up, as the next inventory covers it. */
  private enqueue(report: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (!this.options.linkUp()) return
      try {
        await report()
      } catch (err) {
        this.options.log(`cannot report containers to the API: ${messageOf(err)}`)
      }
    })
  }
}
