import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import {
  APP_LABELS,
  type DeployArgs,
  type OpArgs,
  type OpResult,
  type ProxyInfo,
  type ToApiBody,
} from '@berth/shared'
import { z } from 'zod'
import { Mutex } from '../concurrency.ts'
import type { HostPorts } from '../containers/ports.ts'
import { type Docker, DockerError } from '../docker/index.ts'
import { wait } from '../link/backoff.ts'
import { type Log, messageOf } from '../log.ts'
import type { CaddyAdmin } from '../proxy/admin.ts'
import type { FrontDoorPorts, Upstream } from '../proxy/config.ts'
import { FrontDoor } from '../proxy/front-door.ts'
import { AppProxy } from '../proxy/tcp.ts'
import type { Uploads } from '../uploads.ts'
import { DeployJob, type JobFrame } from './job.ts'
import { masker } from './mask.ts'
import { HealthMonitor } from './monitor.ts'
import { JsonRecord } from './record.ts'
import { servedByContainers, upstreamOf } from './restore.ts'
import { type DeployHost, runDeploy } from './run.ts'
import { DeployCancelled } from './stage.ts'

type EventFrame = Extract<ToApiBody, { type: 'event' }>

const servingFile = z.record(z.string(), z.string())

/** Finished deploys are remembered (with their log) at least this long, for `deploy.status`. */
export const KEEP_FINISHED_MS = 3600_000
/** How often the proxies' container addresses are looked at again (a restarted container may get a new one). */
const REFRESH_MS = 10_000

export interface AppHostOptions {
  docker: Docker
  /** The agent's work folder: deploys' clones and builds. */
  workDir: string
  /** The agent's uploads, which upload deploys unpack. */
  uploads: Uploads
  /** Who chooses host ports on this host; the apps' host ports are promised to it. */
  ports: HostPorts
  log: Log
  /** The server this agent is enrolled as, once known: it serves the apps of that server only. */
  serverId(): string | null
  /** Sends a frame on the link that is up; frames sent while none is are dropped. */
  send(frame: JobFrame | EventFrame): void
  /** How often the health monitor looks for due checks and reports results; its defaults otherwise. */
  monitor?: { tickMs?: number; reportMs?: number }
  /** The host's Caddy, the apps' front door once it answers; without it the agent proxies apps itself. */
  caddy?: { admin: CaddyAdmin; ports: FrontDoorPorts; tlsLog: string | null; checkMs?: number }
}

interface Running {
  job: DeployJob
  args: DeployArgs
  done: Promise<void>
}

/**
 * The apps this host serves: their deploys (jobs that outlive calls and links), their front door
 * (the host's Caddy, else the agent's own proxy on each app's host port), and the health monitor
 * of their containers.
 */
export class AppHost implements DeployHost {
  readonly proxies = new Map<string, AppProxy>()
  readonly frontDoor: FrontDoor | null
  private readonly jobs = new Map<string, Running>()
  private readonly locks = new Map<string, Mutex>()
  private readonly monitor: HealthMonitor
  /** The deployment serving each app, by app id, kept in the work folder. */
  private readonly servingRecord: JsonRecord<Record<string, string>>

  constructor(private readonly options: AppHostOptions) {
    this.monitor = new HealthMonitor({
      docker: options.docker,
      log: options.log,
      send: options.send,
      serverId: options.serverId,
      deploying: (id) => this.isDeploying(id),
      restarted: () => void this.refreshUpstreams(),
      ...options.monitor,
    })
    this.servingRecord = new JsonRecord(join(options.workDir, 'serving.json'), servingFile, {})
    this.frontDoor = options.caddy
      ? new FrontDoor({
          ...options.caddy,
          workDir: options.workDir,
          log: options.log,
          changed: (proxy) => this.proxyChanged(proxy),
        })
      : null
    // An app's host port stays its own while Caddy or the agent's proxy is not listening on it.
    options.ports.promiseFrom(() => [
      ...(this.frontDoor?.heldPorts() ?? []),
      ...[...this.proxies.values()].map((p) => p.port),
    ])
  }

  get docker(): Docker {
    return this.options.docker
  }

  get workDir(): string {
    return this.options.workDir
  }

  get uploads(): Uploads {
    return this.options.uploads
  }

  get ports(): HostPorts {
    return this.options.ports
  }

  serverId(): string | null {
    return this.options.serverId()
  }

  appLock(appId: string): Mutex {
    let lock = this.locks.get(appId)
    if (!lock) {
      lock = new Mutex()
      this.locks.set(appId, lock)
    }
    return lock
  }

  /** Starts a deploy as a job; one already known is not started again. */
  startDeploy(args: DeployArgs): OpResult<'deploy.start'> {
    this.forgetOld()
    if (this.jobs.has(args.deployment_id)) return { accepted: true }
    const secrets = [...args.mask, args.source.type === 'git' ? args.source.ssh_key : undefined]
    const job = new DeployJob(args.deployment_id, masker(secrets), this.options.send)
    const done = runDeploy(this, args, job).catch((err: unknown) => {
      this.options.log(`the deploy ${args.deployment_id} failed unexpectedly: ${messageOf(err)}`)
      if (!job.finished) job.finish('failed', { reason: `the deploy failed: ${messageOf(err)}` })
    })
    this.jobs.set(args.deployment_id, { job, args, done })
    return { accepted: true }
  }

  /** Stops a deploy that does not serve yet, and waits until what it made is removed. */
  async cancelDeploy(deploymentId: string): Promise<OpResult<'deploy.cancel'>> {
    const running = this.jobs.get(deploymentId)
    if (!running || running.job.finished || running.job.serving) return { found: false }
    running.job.cancel.abort(new DeployCancelled())
    await running.done
    return { found: true }
  }

  deployStatus(ids: readonly string[]): OpResult<'deploy.status'> {
    this.forgetOld()
    return { jobs: ids.flatMap((id) => this.jobs.get(id)?.job.status() ?? []) }
  }

  /** Removes a deployment's containers, and its image tag when no container uses the image. */
  async cleanUp(
    { deployment_id, image_tag }: OpArgs<'deploy.cleanup'>,
    signal: AbortSignal,
  ): Promise<OpResult<'deploy.cleanup'>> {
    const running = this.jobs.get(deployment_id)
    if (running && !running.job.finished) {
      running.job.cancel.abort(new DeployCancelled())
      await running.done
    }
    const { docker } = this
    const containers = await docker.findContainers([`${APP_LABELS.deployment}=${deployment_id}`], signal)
    await Promise.all(containers.map((c) => removeGone(docker, c.Id, signal)))
    const image = await docker.inspectImage(image_tag, signal).catch((err: unknown) => {
      if (err instanceof DockerError && err.status === 404) return null
      throw err
    })
    if (!image) return { containers: containers.length, image: false }
    const users = (await docker.listContainers(true, signal)).filter((c) => c.ImageID === image.Id)
    if (users.length > 0) return { containers: containers.length, image: false }
    await docker.removeImage(image_tag, false, signal)
    return { containers: containers.length, image: true }
  }

  /** Stops serving an app: its deploys, its proxy, its containers, and the volumes named. */
  async removeApp(
    { app_id, volumes }: OpArgs<'app.remove'>,
    signal: AbortSignal,
  ): Promise<OpResult<'app.remove'>> {
    const deploys = [...this.jobs.values()].filter((r) => r.args.app_id === app_id && !r.job.finished)
    for (const r of deploys) if (!r.job.serving) r.job.cancel.abort(new DeployCancelled())
    await Promise.all(deploys.map((r) => r.done))
    return this.appLock(app_id).run(async () => {
      const proxy = this.proxies.get(app_id)
      this.proxies.delete(app_id)
      await proxy?.close()
      await this.frontDoor?.forget(app_id)
      const { docker } = this
      const containers = await docker.findContainers([`${APP_LABELS.app}=${app_id}`], signal)
      await Promise.all(containers.map((c) => removeGone(docker, c.Id, signal)))
      for (const name of volumes) {
        await docker.removeVolume(name, true, signal).catch((err: unknown) => {
          if (!(err instanceof DockerError && err.status === 404)) throw err
        })
      }
      await this.servingRecord.update((record) => {
        delete record[app_id]
      })
      this.locks.delete(app_id)
      return { containers: containers.length }
    })
  }

  /** Remembers which deployment serves an app, so that an agent restarting mid-deploy serves that one again. */
  async recordServing(appId: string, deploymentId: string): Promise<void> {
    await this.servingRecord.update((record) => {
      record[appId] = deploymentId
    })
  }

  /**
   * Serves the apps whose containers run on this host: rebuilds the proxy of every app that has
   * none (after the agent restarted), then checks their health until `signal` aborts.
   */
  async run(signal: AbortSignal): Promise<void> {
    // No deploy outlives the agent that ran it: what one left in its work folder is of no use.
    await rm(join(this.workDir, 'jobs'), { recursive: true, force: true }).catch(() => {})
    await this.frontDoor?.start()
    await this.restore().catch((err: unknown) => {
      this.options.log(`cannot set up the apps' proxies: ${messageOf(err)}`)
    })
    // Whatever restore found, the front door may now change Caddy.
    await this.frontDoor?.adopt([])
    const refreshing = (async () => {
      while (!signal.aborted) {
        await wait(REFRESH_MS, signal)
        if (!signal.aborted) await this.refreshUpstreams()
      }
    })()
    await Promise.all([this.monitor.run(signal), refreshing, this.frontDoor?.run(signal)])
  }

  /** The host's Caddy as the agent found it, once it has looked (within a few seconds of starting). */
  async proxyInfo(): Promise<ProxyInfo | null> {
    if (!this.frontDoor) return null
    // The hello waits a little for the first look, never longer; the timer keeps no process alive.
    await Promise.race([this.frontDoor.looked, delay(3_000, undefined, { ref: false })])
    return this.frontDoor.proxy
  }

  /** Routes the apps' domains through the host's Caddy. */
  async syncRoutes(table: OpArgs<'proxy.sync'>): Promise<OpResult<'proxy.sync'>> {
    return this.frontDoor ? this.frontDoor.sync(table) : { proxy: null }
  }

  /** The certificates Caddy serves for `hostnames`; none without a Caddy. */
  async certificates(hostnames: readonly string[]): Promise<OpResult<'proxy.status'>> {
    return this.frontDoor ? this.frontDoor.certificates(hostnames) : { proxy: null, certificates: [] }
  }

  /** Caddy started or stopped answering: the API is told; apps the agent proxied itself move to Caddy. */
  private proxyChanged(proxy: ProxyInfo | null): void {
    this.options.send({ type: 'event', kind: 'proxy.state', at: Date.now(), data: { proxy } })
    if (proxy === null || this.proxies.size === 0) return
    void (async () => {
      for (const [appId, p] of this.proxies) {
        await this.appLock(appId).run(async () => {
          this.proxies.delete(appId)
          await p.close()
        })
      }
      await this.restore()
    })().catch((err: unknown) => this.options.log(`cannot move the apps to Caddy: ${messageOf(err)}`))
  }

  /**
   * Serves every app with running containers that is not served yet (after the agent restarted):
   * through Caddy, or else with a proxy of the agent's own, to the containers of the deployment that
   * served it last (else of its newest one). Apps already served are left as they are, so running
   * it again is harmless.
   */
  async restore(): Promise<void> {
    const serverId = this.serverId()
    if (serverId === null) return
    const apps = await servedByContainers({
      docker: this.docker,
      serverId,
      served: await this.servingRecord.read(),
      deploying: (id) => this.isDeploying(id),
    })
    const door = this.frontDoor?.engaged ? this.frontDoor : null
    if (door) {
      await door.adopt(apps)
      return
    }
    for (const app of apps) {
      await this.appLock(app.appId).run(async () => {
        if (this.proxies.has(app.appId)) return
        try {
          const proxy = await AppProxy.listen(app.hostPort)
          proxy.route(app.upstreams)
          this.proxies.set(app.appId, proxy)
          this.options.log(
            `app ${app.appId} answers on host port ${app.hostPort} again (${app.upstreams.length} container(s))`,
          )
        } catch (err) {
          this.options.log(`cannot serve app ${app.appId} on host port ${app.hostPort}: ${messageOf(err)}`)
        }
      })
    }
  }

  /** Stops every deploy and proxy, for an agent that is stopping. */
  async stop(): Promise<void> {
    const running = [...this.jobs.values()].filter((r) => !r.job.finished)
    for (const r of running) if (!r.job.serving) r.job.cancel.abort(new DeployCancelled())
    await Promise.all(running.map((r) => r.done))
    await Promise.all([...this.proxies.values()].map((p) => p.close()))
    this.proxies.clear()
  }

  /** Whether a deploy of this deployment is under way. */
  private isDeploying(deploymentId: string): boolean {
    const running = this.jobs.get(deploymentId)
    return running !== undefined && !running.job.finished
  }

  /** Follows address changes of the apps' containers (Docker may give a restarted one another). */
  private async refreshUpstreams(): Promise<void> {
    const moved = async (targets: readonly Upstream[]) => {
      const refreshed = await Promise.all(
        targets.map((t) => upstreamOf(this.docker, t.dockerId, t.port).catch(() => t)),
      )
      return refreshed.some((u, i) => u.host !== targets[i]?.host) ? refreshed : null
    }
    for (const [appId, proxy] of this.proxies) {
      try {
        const refreshed = await moved(proxy.targets)
        if (refreshed && this.proxies.get(appId) === proxy) proxy.route(refreshed)
      } catch (err) {
        this.options.log(`cannot look at the containers of app ${appId}: ${messageOf(err)}`)
      }
    }
    for (const app of this.frontDoor?.servedApps() ?? []) {
      await this.appLock(app.appId)
        .run(async () => {
          const refreshed = await moved(app.upstreams)
          if (refreshed && this.frontDoor?.servedApp(app.appId) === app)
            await this.frontDoor.route({ ...app, upstreams: refreshed })
        })
        .catch((err: unknown) => this.options.log(`cannot route app ${app.appId} again: ${messageOf(err)}`))
    }
  }

  /** Forgets finished deploys older than KEEP_FINISHED_MS. */
  private forgetOld(): void {
    const now = Date.now()
    for (const [id, { job }] of this.jobs) {
      if (job.finishedAt !== null && now - job.finishedAt > KEEP_FINISHED_MS) this.jobs.delete(id)
    }
  }
}

/** Removes a container, which may be gone already. */
async function removeGone(docker: Docker, id: string, signal: AbortSignal): Promise<void> {
  await docker.removeContainer(id, { force: true, volumes: false }, signal).catch((err: unknown) => {
    if (!(err instanceof DockerError && err.status === 404)) throw err
  })
}
