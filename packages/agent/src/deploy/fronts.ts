import type { DeployArgs } from '@berth/shared'
import type { HostPorts, PortPlanner } from '../containers/ports.ts'
import type { Docker } from '../docker/index.ts'
import { messageOf } from '../log.ts'
import { CaddyError } from '../proxy/admin.ts'
import type { ServedApp, Upstream } from '../proxy/config.ts'
import type { FrontDoor } from '../proxy/front-door.ts'
import { AppProxy } from '../proxy/tcp.ts'
import type { DeployJob } from './job.ts'
import { DeployFailure } from './stage.ts'

/** Connections (or requests) in flight to the old containers get this long to finish before those are stopped. */
export const DRAIN_MS = 5_000

/** What a rollout works with: the host's Docker, the apps' front door, and who chooses host ports. */
export interface Serving {
  docker: Docker
  ports: HostPorts
  /** The server this agent is enrolled as, once known. */
  serverId(): string | null
  /** The host's Caddy; apps go through it once it has answered. */
  frontDoor: FrontDoor | null
  /** The agent's own proxy of each app, by app id, on a host without a Caddy. */
  proxies: Map<string, AppProxy>
}

/** Host ports tried for a new app before the deploy gives up: others may take one between look and claim. */
const PORT_ATTEMPTS = 5

/** Where an app's traffic comes in during a rollout, and how it is switched to the new containers. */
export interface Front {
  hostPort: number
  /** Sends new requests to `upstreams`; throws, having changed nothing, when it cannot. */
  switchTo(upstreams: Upstream[]): Promise<string>
  /** Undoes what was set up for a rollout that did not switch. */
  abandon(): Promise<void>
  /** Resolves once nothing is in flight to these containers any more, or after DRAIN_MS. */
  drain(dockerIds: string[]): Promise<void>
}

/** The front for this rollout: the host's Caddy once it answered, else the agent's own proxy. */
export function frontFor(serving: Serving, args: DeployArgs, job: DeployJob): Promise<Front> {
  const door = serving.frontDoor?.engaged ? serving.frontDoor : null
  return door ? caddyFront(serving, door, args, job) : proxyFront(serving, args, job)
}

/** Picks the app's host port: the one asked for, else a free one in the range. */
async function choosePort(
  serving: Serving,
  plan: PortPlanner,
  args: DeployArgs,
  reserved: ReadonlySet<number>,
): Promise<number> {
  const wanted = args.run.host_port
  const port =
    wanted ??
    (await plan(serving.docker, [{ container: args.run.port, protocol: 'tcp' }], args.run.port_range, {
      reserved,
    })
      .then(([plan]) => plan?.host)
      .catch((err: unknown) => {
        throw new DeployFailure(messageOf(err))
      }))
  if (port === undefined) throw new DeployFailure('no free host port for the app')
  return port
}

async function caddyFront(
  serving: Serving,
  door: FrontDoor,
  args: DeployArgs,
  job: DeployJob,
): Promise<Front> {
  const previous = door.servedApp(args.app_id)
  const wanted = args.run.host_port
  let hostPort: number
  let claimed = false
  if (previous && (wanted === null || wanted === previous.hostPort)) hostPort = previous.hostPort
  else {
    hostPort = await serving.ports.choose((plan) => claimPort(serving, plan, door, args))
    claimed = true
    job.log('system', `the app answers on host port ${hostPort}`)
  }
  const release = async () => {
    if (claimed) await door.release(hostPort)
  }
  const check = args.run.health_check
  return {
    hostPort,
    async switchTo(upstreams) {
      const app: ServedApp = {
        appId: args.app_id,
        hostPort,
        upstreams,
        health: check?.path ? { path: check.path, intervalS: check.interval, timeoutS: check.timeout } : null,
      }
      try {
        await door.route(app)
      } catch (err) {
        throw new DeployFailure(`Caddy did not take the new route: ${messageOf(err)}`)
      }
      return `Caddy sends new requests to the new containers (host port ${hostPort})`
    },
    abandon: release,
    async drain(dockerIds) {
      const addresses = (previous?.upstreams ?? [])
        .filter((u) => dockerIds.includes(u.dockerId))
        .map((u) => `${u.host}:${u.port}`)
      await door.drain(addresses, DRAIN_MS)
    },
  }
}

/**
 * Chooses the app's host port and has Caddy listen on it at once, so nothing else takes it during
 * the deploy; a port taken between the look and the claim is skipped for the next free one.
 */
async function claimPort(
  serving: Serving,
  plan: PortPlanner,
  door: FrontDoor,
  args: DeployArgs,
): Promise<number> {
  const taken = new Set<number>()
  for (let attempt = 1; ; attempt++) {
    const port = await choosePort(serving, plan, args, taken)
    try {
      await door.claim(port, args.app_id)
      return port
    } catch (err) {
      const inUse = err instanceof CaddyError && /address already in use/.test(err.message)
      if (!inUse || args.run.host_port !== null || attempt >= PORT_ATTEMPTS) {
        throw new DeployFailure(`Caddy cannot listen on host port ${port}: ${messageOf(err)}`)
      }
      taken.add(port)
    }
  }
}

async function proxyFront(serving: Serving, args: DeployArgs, job: DeployJob): Promise<Front> {
  const previous = serving.proxies.get(args.app_id)
  const wanted = args.run.host_port
  let proxy = previous
  if (!proxy || (wanted !== null && wanted !== proxy.port)) {
    proxy = await serving.ports.choose(async (plan) => {
      const port = await choosePort(serving, plan, args, new Set())
      return AppProxy.listen(port).catch((err: unknown) => {
        throw new DeployFailure(`cannot listen on host port ${port}: ${messageOf(err)}`)
      })
    })
    job.log('system', `the app answers on host port ${proxy.port}`)
    // Until the switch the new port serves what the old one did.
    if (previous) proxy.route([...previous.targets])
  }
  const current = proxy
  return {
    hostPort: current.port,
    async switchTo(upstreams) {
      current.route(upstreams)
      serving.proxies.set(args.app_id, current)
      if (previous && previous !== current) {
        // The old port's connections finish on their own; it takes no new ones.
        void previous
          .drain(
            previous.targets.map((t) => t.dockerId),
            DRAIN_MS,
          )
          .then(() => previous.close())
          .catch(() => {})
      }
      return `the proxy on port ${current.port} sends new connections to the new containers`
    },
    async abandon() {
      // A proxy opened for this deploy that never got containers goes again.
      if (current !== previous) await current.close()
    },
    drain: (dockerIds) => current.drain(dockerIds, DRAIN_MS),
  }
}
