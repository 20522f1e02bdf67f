import type { OpArgs } from '@berth/shared'
import type { ContainerLimits, Docker, ImageInspect } from '../docker/index.ts'
import { DockerError } from '../docker/index.ts'
import { OpError } from '../errors.ts'
import type { PortPlan } from './ports.ts'

// Pieces of Docker's container config that creating, recreating and deploying all write.

type Resources = OpArgs<'container.create'>['resources']

export const envList = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`)

/** Docker's update body for the limits given; memory without extra swap. */
export function limitsOf(resources: Resources): ContainerLimits {
  const limits: ContainerLimits = {}
  if (resources.cpus !== undefined) limits.NanoCpus = Math.round(resources.cpus * 1e9)
  if (resources.memory !== undefined) {
    limits.Memory = resources.memory
    limits.MemorySwap = resources.memory
  }
  if (resources.pids !== undefined) limits.PidsLimit = resources.pids
  return limits
}

export function exposedPortsOf(ports: PortPlan[]): Record<string, object> {
  return Object.fromEntries(ports.map((p) => [`${p.container}/${p.protocol}`, {}]))
}

export function portBindingsOf(ports: PortPlan[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {}
  for (const p of ports) {
    const spec = `${p.container}/${p.protocol}`
    bindings[spec] = [...(bindings[spec] ?? []), { HostIp: '', HostPort: String(p.host) }]
  }
  return bindings
}

/** The image, which must be on this host already: Berth never pulls as a side effect. */
export async function requireImage(
  docker: Docker,
  image: string,
  signal?: AbortSignal,
): Promise<ImageInspect> {
  return docker.inspectImage(image, signal).catch((err: unknown) => {
    throw missingImage(err, image) ?? err
  })
}

export function missingImage(err: unknown, image: string): OpError | null {
  if (!(err instanceof DockerError && err.status === 404 && /no such image/i.test(err.message))) return null
  return new OpError('not_found', `the image ${image} is not on this host; pull it first`)
}
