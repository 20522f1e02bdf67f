import { APP_LABELS, type DeployArgs, LABELS } from '@berth/shared'
import { envList, limitsOf } from '../containers/spec.ts'
import { type ContainerInspect, type ContainerSpec, type Docker, DockerError } from '../docker/index.ts'
import { wait } from '../link/backoff.ts'
import { messageOf } from '../log.ts'
import type { Upstream } from '../proxy/config.ts'
import { type Front, frontFor, type Serving } from './fronts.ts'
import { type HealthCheck, probe } from './health.ts'
import type { DeployJob } from './job.ts'
import { DeployFailure } from './stage.ts'

/** Without a health check, a new container must keep running this long. */
export const GRACE_MS = 3_000
/** How often a container is looked at during the grace period. */
const GRACE_CHECK_MS = 500
/** Probes during a check's start period, when failures do not count, come at least this often. */
const START_PERIOD_PROBE_MS = 1_000
/** `docker stop`'s time before SIGKILL, s. */
const STOP_TIMEOUT_S = 10
/** Log lines of a container that failed its health gate copied into the deploy's log. */
const FAILED_LOG_LINES = 20

/**
 * The server an app container belongs to. One Docker Engine serves one Berth server in production,
 * but several agents may share one (tests do): each serves and checks only its own server's apps.
 */
export const SERVER_LABEL = 'berth.server'

export interface Rolled {
  containers: string[]
  hostPort: number
}

/**
 * Starts the new containers beside the old ones, waits until every one is healthy, then switches
 * the app's front (Caddy, or the agent's own proxy) to them and removes the old ones. When a new
 * container is not healthy (or the deploy is cancelled) the new ones are removed and the old ones
 * go on serving, the front untouched. `commit` is called right after the switch, after which the
 * rollout is not cancelled any more.
 */
export async function rollOut(
  serving: Serving,
  args: DeployArgs,
  image: string,
  job: DeployJob,
  signal: AbortSignal,
  commit: () => void,
): Promise<Rolled> {
  const { docker } = serving
  const front = await frontFor(serving, args, job)
  const made: string[] = []
  // Containers of the previous deployment stopped to free the raw ports, started again on failure.
  let paused: string[] = []
  let switched: string
  try {
    job.note({ host_port: front.hostPort })
    await createVolumes(docker, args, signal)
    const labels = appLabels(args, front.hostPort, serving.serverId())
    for (let i = 1; i <= args.run.instances; i++) {
      made.push(await createAppContainer(docker, args, image, labels, i, signal))
    }
    if (args.run.ports.length > 0) {
      paused = await stopOthers(docker, args.app_id, made)
      if (paused.length > 0)
        job.log('system', `stopped ${paused.length} container(s) to free the app's raw ports`)
    }
    for (const id of made) await docker.startContainer(id, signal)
    job.log('system', `started ${made.length} container(s); waiting for them to be healthy`)
    const upstreams = await allHealthy(docker, made, args.run.port, args.run.health_check, job, signal)
    signal.throwIfAborted()
    switched = await front.switchTo(upstreams)
  } catch (err) {
    await Promise.all(
      made.map((id) => docker.removeContainer(id, { force: true, volumes: false }).catch(() => {})),
    )
    for (const id of paused) await docker.startContainer(id).catch(() => {})
    await front.abandon()
    throw err
  }

  // From here on the new containers serve: nothing undoes that.
  commit()
  job.log('system', switched)
  try {
    await retire(serving, args.app_id, made, front, job)
  } catch (err) {
    job.log('system', `cannot remove the previous deployment's containers: ${messageOf(err)}`)
  }
  return { containers: made, hostPort: front.hostPort }
}

function appLabels(args: DeployArgs, hostPort: number, serverId: string | null): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.managed]: 'true',
    [APP_LABELS.app]: args.app_id,
    [APP_LABELS.appName]: args.app_name,
    [APP_LABELS.deployment]: args.deployment_id,
    [APP_LABELS.port]: String(args.run.port),
    [APP_LABELS.hostPort]: String(hostPort),
  }
  if (args.run.health_check) labels[APP_LABELS.health] = JSON.stringify(args.run.health_check)
  if (serverId !== null) labels[SERVER_LABEL] = serverId
  return labels
}

/** Stops the app's running containers other than `keep`; returns those it stopped. */
async function stopOthers(docker: Docker, appId: string, keep: string[]): Promise<string[]> {
  const running = (await docker.findContainers([`${APP_LABELS.app}=${appId}`]))
    .filter((c) => c.State === 'running' && !keep.includes(c.Id))
    .map((c) => c.Id)
  await Promise.all(running.map((id) => docker.stopContainer(id, STOP_TIMEOUT_S)))
  return running
}

/** Docker's port fields for the app's raw ports: each container port once, with its host ports. */
function publishedPorts(args: DeployArgs): Pick<ContainerSpec, 'ExposedPorts'> & { PortBindings?: object } {
  if (args.run.ports.length === 0) return {}
  const bindings: Record<string, { HostPort: string }[]> = {}
  for (const p of args.run.ports) {
    const key = `${p.container}/${p.protocol}`
    bindings[key] = [...(bindings[key] ?? []), { HostPort: String(p.host) }]
  }
  return {
    ExposedPorts: Object.fromEntries(Object.keys(bindings).map((k) => [k, {}])),
    PortBindings: bindings,
  }
}

async function createVolumes(docker: Docker, args: DeployArgs, signal: AbortSignal): Promise<void> {
  for (const { volume } of args.run.volumes) {
    // Creating a volume that exists leaves it as it is.
    await docker.createVolume(volume, { [APP_LABELS.app]: args.app_id, [LABELS.managed]: 'true' }, signal)
  }
}

/** Creates instance `i` of the app on `image`; one of the same name this deployment left earlier is replaced. */
async function createAppContainer(
  docker: Docker,
  args: DeployArgs,
  image: string,
  labels: Record<string, string>,
  i: number,
  signal: AbortSignal,
): Promise<string> {
  const name = `berth-${args.app_name}-${args.deployment_id.slice(-8)}-${i}`
  const { PortBindings, ...exposed } = publishedPorts(args)
  const spec: ContainerSpec = {
    Image: image,
    Env: envList(args.run.env),
    Labels: labels,
    ...exposed,
    HostConfig: {
      ...(PortBindings ? { PortBindings } : {}),
      ...limitsOf(args.run.resources),
      Mounts: args.run.volumes.map((v) => ({ Type: 'volume', Source: v.volume, Target: v.target })),
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      NetworkMode: 'bridge',
    },
  }
  try {
    return await docker.createContainer(spec, name, signal)
  } catch (err) {
    if (!(err instanceof DockerError && err.status === 409)) throw err
    const existing = await docker.inspectContainer(name, signal)
    if (existing.Config.Labels?.[APP_LABELS.deployment] !== args.deployment_id) throw err
    await docker.removeContainer(existing.Id, { force: true, volumes: false }, signal)
    return docker.createContainer(spec, name, signal)
  }
}

/** The container's address on Docker's default bridge. */
export function bridgeAddress(c: ContainerInspect): string {
  const networks = c.NetworkSettings.Networks ?? {}
  const address = networks.bridge?.IPAddress || Object.values(networks).find((n) => n.IPAddress)?.IPAddress
  if (!address)
    throw new DeployFailure(`the container ${c.Name.replace(/^\//, '')} has no address on the bridge network`)
  return address
}

/** Waits until every new container is healthy; the first that is not fails the lot. */
async function allHealthy(
  docker: Docker,
  ids: string[],
  port: number,
  check: HealthCheck | null,
  job: DeployJob,
  signal: AbortSignal,
): Promise<Upstream[]> {
  const gate = new AbortController()
  const stop = () => gate.abort(signal.reason)
  signal.addEventListener('abort', stop, { once: true })
  try {
    return await Promise.all(
      ids.map((id) =>
        untilHealthy(docker, id, port, check, job, gate.signal).catch(async (err: unknown) => {
          // The first failure stops the others' checks; only its container's log is of interest.
          if (!gate.signal.aborted) {
            gate.abort(err)
            if (err instanceof DeployFailure) await copyLastLines(docker, id, job)
          }
          throw err
        }),
      ),
    )
  } finally {
    signal.removeEventListener('abort', stop)
  }
}

/** Why a new container does not count as up: it stopped, or Docker restarted it; null while it runs. */
function notRunning(c: ContainerInspect): string | null {
  const name = c.Name.replace(/^\//, '')
  if (c.State.Status !== 'running') {
    return `the new container ${name} is ${c.State.Status} (exit code ${c.State.ExitCode})`
  }
  return (c.RestartCount ?? 0) > 0 ? `the new container ${name} exited and was restarted` : null
}

/** Waits until a new container is healthy; returns where the proxy reaches it. */
async function untilHealthy(
  docker: Docker,
  id: string,
  port: number,
  check: HealthCheck | null,
  job: DeployJob,
  signal: AbortSignal,
): Promise<Upstream> {
  const started = Date.now()
  const running = async () => {
    const c = await docker.inspectContainer(id, signal)
    const why = notRunning(c)
    if (why !== null) throw new DeployFailure(why)
    return c
  }
  const upstream = { dockerId: id, host: bridgeAddress(await running()), port }
  if (check === null) {
    while (Date.now() - started < GRACE_MS) {
      await wait(GRACE_CHECK_MS, signal)
      signal.throwIfAborted()
      await running()
    }
    return upstream
  }
  let successes = 0
  let failures = 0
  for (;;) {
    const result = await probe(upstream.host, port, check, signal)
    signal.throwIfAborted()
    const starting = Date.now() - started < check.start_period * 1000
    if (result.ok) {
      failures = 0
      if (++successes >= check.healthy_threshold) return upstream
    } else {
      successes = 0
      if (!starting) {
        failures++
        job.log('system', `health check ${failures}/${check.unhealthy_threshold} failed: ${result.error}`)
        if (failures >= check.unhealthy_threshold) {
          throw new DeployFailure(`the new container did not become healthy: ${result.error}`)
        }
      }
    }
    const pause =
      starting && !result.ok ? Math.min(check.interval * 1000, START_PERIOD_PROBE_MS) : check.interval * 1000
    await wait(pause, signal)
    signal.throwIfAborted()
    await running()
  }
}

/** The last lines a container wrote, into the deploy's log. */
async function copyLastLines(docker: Docker, id: string, job: DeployJob): Promise<void> {
  try {
    const c = await docker.inspectContainer(id)
    job.log('system', `the last lines of ${c.Name.replace(/^\//, '')}:`)
    const output = await docker.containerLogs(
      id,
      { tty: c.Config.Tty === true, follow: false, tail: FAILED_LOG_LINES, timestamps: false },
      AbortSignal.timeout(5_000),
    )
    const out = job.lineWriter('stdout')
    const err = job.lineWriter('stderr')
    for await (const piece of output) (piece.stream === 'stderr' ? err : out).write(piece.data)
    out.end()
    err.end()
  } catch (err) {
    job.log('system', `cannot read the container's log: ${messageOf(err)}`)
  }
}

/** Stops and removes the app's containers other than `keep`, once connections to them have finished. */
async function retire(
  serving: Serving,
  appId: string,
  keep: string[],
  front: Front,
  job: DeployJob,
): Promise<void> {
  const { docker } = serving
  const others = (await docker.findContainers([`${APP_LABELS.app}=${appId}`]))
    .map((c) => c.Id)
    .filter((id) => !keep.includes(id))
  if (others.length === 0) return
  await front.drain(others)
  await Promise.all(
    others.map(async (id) => {
      await docker.stopContainer(id, STOP_TIMEOUT_S).catch(() => {})
      await docker.removeContainer(id, { force: true, volumes: false }).catch(() => {})
    }),
  )
  job.log('system', `removed ${others.length} container(s) of the previous deployment`)
}
