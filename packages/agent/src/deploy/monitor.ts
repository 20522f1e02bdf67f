import { APP_LABELS, type appHealthEvent, type appRestartEvent, type ToApiBody } from '@berth/shared'
import type { z } from 'zod'
import type { Docker } from '../docker/index.ts'
import { wait } from '../link/backoff.ts'
import { type Log, messageOf } from '../log.ts'
import { type HealthCheck, healthCheckLabel, probe } from './health.ts'
import { bridgeAddress, SERVER_LABEL } from './rollout.ts'

type EventFrame = Extract<ToApiBody, { type: 'event' }>
type HealthResult = z.infer<typeof appHealthEvent>['results'][number]

/** How often the monitor looks for containers whose next check is due. */
const TICK_MS = 1_000
/** Results are sent together at most this often. */
const REPORT_MS = 5_000
/** The most results one frame carries (the protocol's limit). */
const RESULTS_PER_FRAME = 1_000
/** `docker restart`'s time before SIGKILL, s. */
const RESTART_TIMEOUT_S = 10

export interface HealthMonitorOptions {
  docker: Docker
  log: Log
  /** The server whose apps are checked; none while it is not known. */
  serverId(): string | null
  send(frame: EventFrame): void
  /** Whether a deploy of this deployment is under way: its own health gate judges its containers. */
  deploying(deploymentId: string): boolean
  /** Called after the monitor restarted a container, whose address may have changed. */
  restarted(dockerId: string): void
  tickMs?: number
  reportMs?: number
}

interface Watched {
  appId: string
  check: HealthCheck
  /** Docker's StartedAt of the run the failures count in; a restart starts counting again. */
  startedAt: string
  failures: number
  nextAt: number
  probing: boolean
}

/**
 * Checks the health of every running app container that has a health check, each on its own
 * interval (failures during its start period after a (re)start do not count), reports the results
 * in batches as `app.health` events, and restarts a container after `unhealthy_threshold` failures
 * in a row, reporting that as `app.restarted`.
 */
export class HealthMonitor {
  private readonly watched = new Map<string, Watched>()
  private results: HealthResult[] = []

  constructor(private readonly options: HealthMonitorOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    const tickMs = this.options.tickMs ?? TICK_MS
    const reportMs = this.options.reportMs ?? REPORT_MS
    let reportedAt = Date.now()
    while (!signal.aborted) {
      try {
        await this.tick(signal)
      } catch (err) {
        if (!signal.aborted) this.options.log(`cannot check the health of apps: ${messageOf(err)}`)
      }
      if (Date.now() - reportedAt >= reportMs) {
        this.report()
        reportedAt = Date.now()
      }
      await wait(tickMs, signal)
    }
  }

  private async tick(signal: AbortSignal): Promise<void> {
    const { docker } = this.options
    const serverId = this.options.serverId()
    if (serverId === null) return
    const containers = await docker.findContainers(
      [APP_LABELS.app, APP_LABELS.health, `${SERVER_LABEL}=${serverId}`],
      signal,
    )
    const seen = new Set<string>()
    const now = Date.now()
    for (const c of containers) {
      const labels = c.Labels ?? {}
      const appId = labels[APP_LABELS.app]
      const deployment = labels[APP_LABELS.deployment] ?? ''
      if (c.State !== 'running' || !appId || this.options.deploying(deployment)) continue
      const check = parseCheck(labels[APP_LABELS.health])
      if (!check) continue
      seen.add(c.Id)
      let watched = this.watched.get(c.Id)
      if (!watched) {
        watched = { appId, check, startedAt: '', failures: 0, nextAt: now, probing: false }
        this.watched.set(c.Id, watched)
      }
      if (watched.probing || now < watched.nextAt) continue
      watched.probing = true
      void this.check(c.Id, watched, signal).finally(() => {
        watched.probing = false
        watched.nextAt = Date.now() + watched.check.interval * 1000
      })
    }
    for (const id of this.watched.keys()) if (!seen.has(id)) this.watched.delete(id)
  }

  private async check(id: string, watched: Watched, signal: AbortSignal): Promise<void> {
    const { docker, log } = this.options
    try {
      const c = await docker.inspectContainer(id, signal)
      if (c.State.Status !== 'running') return
      if (c.State.StartedAt !== watched.startedAt) {
        watched.startedAt = c.State.StartedAt
        watched.failures = 0
      }
      const { check } = watched
      const result = await probe(bridgeAddress(c), Number(c.Config.Labels?.[APP_LABELS.port]), check, signal)
      if (signal.aborted) return
      const at = Date.now()
      this.results.push({ app_id: watched.appId, docker_id: id, at, ...result })
      const starting = at - Date.parse(c.State.StartedAt) < check.start_period * 1000
      if (result.ok) watched.failures = 0
      else if (!starting && ++watched.failures >= check.unhealthy_threshold) {
        const reason = `${watched.failures} health checks failed in a row: ${result.error}`
        log(`restarting ${c.Name.replace(/^\//, '')} of app ${watched.appId}: ${reason}`)
        watched.failures = 0
        await docker.restartContainer(id, RESTART_TIMEOUT_S, signal)
        const data: z.infer<typeof appRestartEvent> = { app_id: watched.appId, docker_id: id, reason }
        this.options.send({ type: 'event', kind: 'app.restarted', at: Date.now(), data })
        this.options.restarted(id)
      }
    } catch (err) {
      if (!signal.aborted) log(`cannot check the health of container ${id.slice(0, 12)}: ${messageOf(err)}`)
    }
  }

  /** Sends the results gathered since the last report. */
  report(): void {
    const results = this.results
    this.results = []
    for (let i = 0; i < results.length; i += RESULTS_PER_FRAME) {
      const data: z.infer<typeof appHealthEvent> = { results: results.slice(i, i + RESULTS_PER_FRAME) }
      this.options.send({ type: 'event', kind: 'app.health', at: Date.now(), data })
    }
  }
}

function parseCheck(label: string | undefined): HealthCheck | null {
  if (!label) return null
  try {
    const parsed = healthCheckLabel.safeParse(JSON.parse(label))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}
