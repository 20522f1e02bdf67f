import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { APP_LABELS, type DeployArgs, type OpArgs, type OpResult, type ToApiBody } from '@berth/shared'
import { z } from 'zod'
import { Mutex } from '../concurrency.ts'
import { type ContainerListing, type Docker, DockerError } from '../docker/index.ts'
import { wait } from '../link/backoff.ts'
import { type Log, messageOf } from '../log.ts'
import type { Uploads } from '../uploads.ts'
import { DeployJob, type JobFrame } from './job.ts'
import { masker } from './mask.ts'
import { HealthMonitor } from './monitor.ts'
import { AppProxy, type Upstream } from './proxy.ts'
import { JsonRecord } from './record.ts'
import { bridgeAddress, SERVER_LABEL } from './rollout.ts'
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
  /** The agent's lock for choosing host ports. */
  portLock: Mutex
  log: Log
  /** The server this agent is enrolled as, once known: it serves the apps of that server only. */
  serverId(): string | null
  /** Sends a frame on the link that is up; frames sent while none is are dropped. */
  send(frame: JobFrame | EventFrame): void
  /** How often the health monitor looks for due checks and reports results; its defaults otherwise. */
  monitor?: { tickMs?: number; reportMs?: number }
}

interface Running {
  job: DeployJob
  args: DeployArgs
  done: Promise<void>
}

/**
 * The apps this host serves: their deploys (jobs that outlive calls and links), the TCP proxy on
 * each app's host port, and the health monitor of their containers.
 */
export class AppHost implements DeployHost {
  readonly proxies = new Map<string, AppProxy>()
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

  get portLock(): Mutex {
    return this.options.portLock
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

  /** Routes the apps' domains through the host's Caddy; this host has none the agent drives yet. */
  async syncRoutes(_table: OpArgs<'proxy.sync'>): Promise<OpResult<'proxy.sync'>> {
    return { proxy: null }
  }

  /** The certificates Caddy serves for `hostnames`; none without a Caddy. */
  async certificates(_hostnames: readonly string[]): Promise<OpResult<'proxy.status'>> {
    return { proxy: null, certificates: [] }
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
    await this.restore().catch((err: unknown) => {
      this.options.log(`cannot set up the apps' proxies: ${messageOf(err)}`)
    })
    const refreshing = (async () => {
      while (!signal.aborted) {
        await wait(REFRESH_MS, signal)
        if (!signal.aborted) await this.refreshUpstreams()
      }
    })()
    await Promise.all([this.monitor.run(signal), refreshing])
  }

  /**
   * A proxy for every app with running containers but none yet, to the containers of the
   * deployment that served it last (else of its newest one); apps with a proxy are left as they
   * are, so running it again is harmless.
   */
  async restore(): Promise<void> {
    const serverId = this.serverId()
    if (serverId === null) return
    const served = await this.servingRecord.read()
    const containers = await this.docker.findContainers([APP_LABELS.app, `${SERVER_LABEL}=${serverId}`])
    const byApp = new Map<string, ContainerListing[]>()
    for (const c of containers) {
      const appId = c.Labels?.[APP_LABELS.app]
      if (c.State !== 'running' || !appId) continue
      byApp.set(appId, [...(byApp.get(appId) ?? []), c])
    }
    for (const [appId, listed] of byApp) {
      await this.appLock(appId).run(async () => {
        if (this.proxies.has(appId)) return
        const newest = listed.reduce((a, b) => ((b.Created ?? 0) > (a.Created ?? 0) ? b : a))
        const last = listed.find((c) => c.Labels?.[APP_LABELS.deployment] === served[appId])
        const labels = (last ?? newest).Labels ?? {}
        const deployment = labels[APP_LABELS.deployment]
        const hostPort = Number(labels[APP_LABELS.hostPort])
        const port = Number(labels[APP_LABELS.port])
        if (!(hostPort > 0 && port > 0) || (deployment && this.isDeploying(deployment))) return
        try {
          const members = listed.filter((c) => c.Labels?.[APP_LABELS.deployment] === deployment)
          const upstreams = await Promise.all(members.map((c) => this.upstreamOf(c.Id, port)))
          const proxy = await AppProxy.listen(hostPort)
          proxy.route(upstreams)
          this.proxies.set(appId, proxy)
          this.options.log(
            `app ${appId} answers on host port ${hostPort} again (${upstreams.length} container(s))`,
          )
        } catch (err) {
          this.options.log(`cannot serve app ${appId} on host port ${hostPort}: ${messageOf(err)}`)
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

  /** Follows address changes of the proxies' containers (Docker may give a restarted one another). */
  private async refreshUpstreams(): Promise<void> {
    for (const [appId, proxy] of this.proxies) {
      try {
        const refreshed = await Promise.all(
          proxy.targets.map((t) => this.upstreamOf(t.dockerId, t.port).catch(() => t)),
        )
        const changed = refreshed.some((u, i) => u.host !== proxy.targets[i]?.host)
        if (changed && this.proxies.get(appId) === proxy) proxy.route(refreshed)
      } catch (err) {
        this.options.log(`cannot look at the containers of app ${appId}: ${messageOf(err)}`)
      }
    }
  }

  private async upstreamOf(dockerId: string, port: number): Promise<Upstream> {
    return { dockerId, host: bridgeAddress(await this.docker.inspectContainer(dockerId)), port }
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
