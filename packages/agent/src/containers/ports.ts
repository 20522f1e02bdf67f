import dgram from 'node:dgram'
import net from 'node:net'
import type { OpArgs } from '@berth/shared'
import { Mutex, mapBounded } from '../concurrency.ts'
import { type Docker, DockerError } from '../docker/index.ts'
import { OpError } from '../errors.ts'

export type PortRequest = OpArgs<'container.create'>['ports'][number]
export type PortRange = OpArgs<'container.create'>['port_range']
/** A port to publish, its host port decided. */
export type PortPlan = { host: number; container: number; protocol: 'tcp' | 'udp' }

const INSPECT_CONCURRENCY = 16

const key = (port: number, protocol: string) => `${port}/${protocol}`

export interface PlanOptions {
  /** The container being replaced: its ports are not taken, and it may keep them. */
  replacing?: {
    id: string
    /** Host ports it publishes now, as `port/protocol`; they are free once it stops. */
    holds: Set<string>
    /** Its host port for each `containerPort/protocol`, kept for a port asked without a host port. */
    previous: Map<string, number>
  }
  /** Host ports the agent has promised elsewhere (its proxy's), taken whatever the host says. */
  reserved?: ReadonlySet<number>
  signal?: AbortSignal
}

/** planPorts, with the ports promised outside Docker already reserved. */
export type PortPlanner = (
  docker: Docker,
  requests: readonly PortRequest[],
  range: PortRange,
  options?: PlanOptions,
) => Promise<PortPlan[]>

/**
 * The host's ports as this agent hands them out: one lock, held from choosing host ports until
 * what publishes them exists, and the ports promised outside Docker (the apps' front door), which
 * no plan made under it hands out, even while what holds them is down (a Caddy restarting).
 */
export class HostPorts {
  private readonly lock = new Mutex()
  private promised: () => Iterable<number> = () => []

  /** Names what holds host ports outside Docker; the apps' host calls it once. */
  promiseFrom(source: () => Iterable<number>): void {
    this.promised = source
  }

  /** Runs `work` under the lock; its `plan` decides host ports as planPorts does, never a promised one. */
  choose<T>(work: (plan: PortPlanner) => Promise<T>): Promise<T> {
    return this.lock.run(() =>
      work((docker, requests, range, options = {}) =>
        planPorts(docker, requests, range, {
          ...options,
          reserved: new Set([...this.promised(), ...(options.reserved ?? [])]),
        }),
      ),
    )
  }
}

/**
 * Decides the host port of every port asked for: a given host port must be free, one not given is
 * taken from `range`. Free means published by no container on this host (running or not) and not
 * in use on the host. Call it through HostPorts.choose, and create the container before it returns.
 */
async function planPorts(
  docker: Docker,
  requests: readonly PortRequest[],
  range: PortRange,
  options: PlanOptions = {},
): Promise<PortPlan[]> {
  if (requests.length === 0) return []
  const { replacing, reserved, signal } = options
  const taken = await publishedHostPorts(docker, replacing?.id ?? null, signal)
  const claimed = new Set<string>()
  const usable = async (port: number, protocol: PortPlan['protocol']) => {
    const k = key(port, protocol)
    if (taken.has(k) || claimed.has(k) || (protocol === 'tcp' && reserved?.has(port))) return false
    return replacing?.holds.has(k) || (await hostPortFree(port, protocol))
  }

  const plans: (PortPlan | null)[] = requests.map(() => null)
  for (const [index, request] of requests.entries()) {
    if (request.host === undefined) continue
    if (!(await usable(request.host, request.protocol))) {
      throw new OpError('conflict', `host port ${request.host}/${request.protocol} is already in use`, {
        port: request.host,
      })
    }
    claimed.add(key(request.host, request.protocol))
    plans[index] = { host: request.host, container: request.container, protocol: request.protocol }
  }
  for (const [index, request] of requests.entries()) {
    if (request.host !== undefined) continue
    const kept = replacing?.previous.get(key(request.container, request.protocol))
    const host =
      kept !== undefined && (await usable(kept, request.protocol))
        ? kept
        : await firstFree(range, (port) => usable(port, request.protocol))
    if (host === null) {
      throw new OpError('conflict', `no free host port between ${range.start} and ${range.end}`, {
        port_range: range,
      })
    }
    claimed.add(key(host, request.protocol))
    plans[index] = { host, container: request.container, protocol: request.protocol }
  }
  return plans.filter((plan): plan is PortPlan => plan !== null)
}

async function firstFree(
  range: PortRange,
  usable: (port: number) => Promise<boolean>,
): Promise<number | null> {
  for (let port = range.start; port <= range.end; port++) if (await usable(port)) return port
  return null
}

/** Host ports, as `port/protocol`, that containers on this host publish now or will when started. */
export async function publishedHostPorts(
  docker: Docker,
  except: string | null,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const ports = new Set<string>()
  const containers = (await docker.listContainers(true, signal)).filter((c) => c.Id !== except)
  const idle: string[] = []
  for (const c of containers) {
    if (c.State !== 'running' && c.State !== 'paused') idle.push(c.Id)
    for (const p of c.Ports ?? []) if (p.PublicPort) ports.add(key(p.PublicPort, p.Type))
  }
  // A stopped container's bindings are only in its config, and claim their ports again when it starts.
  await mapBounded(idle, INSPECT_CONCURRENCY, async (id) => {
    const bindings = await docker
      .inspectContainer(id, signal)
      .then((c) => c.HostConfig.PortBindings ?? {})
      .catch(() => ({}))
    for (const [port, mappings] of Object.entries(bindings)) {
      const protocol = port.split('/')[1] ?? 'tcp'
      for (const m of mappings ?? []) {
        const host = Number(m.HostPort)
        if (host > 0) ports.add(key(host, protocol))
      }
    }
  })
  return ports
}

/** Whether `port` can be bound on every IPv4 address of this host right now, as Docker will need to. */
export function hostPortFree(port: number, protocol: PortPlan['protocol']): Promise<boolean> {
  return new Promise((resolve) => {
    // Only "in use" counts: any other failure (e.g. EACCES below 1024) is Docker's to judge.
    const settle = (err?: NodeJS.ErrnoException) => resolve(err?.code !== 'EADDRINUSE')
    if (protocol === 'udp') {
      const socket = dgram.createSocket('udp4')
      socket.once('error', (err) => {
        socket.close()
        settle(err)
      })
      socket.bind(port, '0.0.0.0', () => socket.close(() => settle()))
      return
    }
    const server = net.createServer()
    server.once('error', (err) => settle(err))
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => settle()))
  })
}

/** The host port a start failure names when Docker could not bind it; null for any other failure. */
export function portConflictOf(err: unknown): OpError | null {
  if (!(err instanceof DockerError)) return null
  if (!/port is already allocated|address already in use/i.test(err.message)) return null
  const port = Number(err.message.match(/(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]*\]|::):(\d{1,5})/i)?.[1])
  return new OpError(
    'conflict',
    `host port ${port > 0 ? port : '(unknown)'} is already in use: ${err.message}`,
    port > 0 ? { port } : undefined,
  )
}
