import { randomBytes } from 'node:crypto'
import type { ContainerDetail, OpArgs } from '@berth/shared'
import type { ContainerInspect, ContainerSpec, Docker, ImageInspect, PortMappings } from '../docker/index.ts'
import type { OpContext } from '../ops/context.ts'
import { type PortPlanner, portConflictOf } from './ports.ts'
import { detailOf, portsOf } from './report.ts'
import { envList, exposedPortsOf, portBindingsOf, requireImage } from './spec.ts'

type RecreateArgs = OpArgs<'container.recreate'>

/**
 * Replaces a container by one made from its config with what `args` changes, keeping its name,
 * volumes and running state. The old one is parked under another name until the new one runs,
 * and comes back as it was if anything fails.
 */
export async function recreateContainer(args: RecreateArgs, ctx: OpContext): Promise<ContainerDetail> {
  const { docker, signal, agent } = ctx
  const old = await docker.inspectContainer(args.ref, signal)
  const name = old.Name.replace(/^\//, '')
  const wasRunning =
    old.State.Status === 'running' || old.State.Status === 'paused' || old.State.Status === 'restarting'
  const image = await recreatedImage(docker, old, args.image, signal)

  const replacement = new Replacement(docker, old.Id, name, wasRunning)
  const id = await agent.ports.choose(async (plan) => {
    const spec = await recreatedSpec(docker, plan, old, args, image, signal)
    await replacement.park(signal)
    return replacement.create(spec, extraNetworks(old), signal)
  })
  return replacement.finish(id, signal)
}

/** The steps of a recreation, each undone in reverse when a later one fails. */
class Replacement {
  private parked = false
  private made: string | null = null

  constructor(
    private readonly docker: Docker,
    private readonly oldId: string,
    private readonly name: string,
    private readonly wasRunning: boolean,
  ) {}

  /** Stops the old container and moves it out of the way of its name. */
  async park(signal: AbortSignal): Promise<void> {
    if (this.wasRunning) await this.docker.stopContainer(this.oldId, undefined, signal)
    const parkedName = `${this.name}-berth-old-${randomBytes(4).toString('hex')}`
    try {
      await this.docker.renameContainer(this.oldId, parkedName, signal)
      this.parked = true
    } catch (err) {
      await this.rollBack()
      throw err
    }
  }

  async create(spec: ContainerSpec, networks: [string, unknown][], signal: AbortSignal): Promise<string> {
    try {
      this.made = await this.docker.createContainer(spec, this.name, signal)
      for (const [network, endpoint] of networks) {
        await this.docker.connectNetwork(network, this.made, endpoint, signal)
      }
      return this.made
    } catch (err) {
      await this.rollBack()
      throw err
    }
  }

  /** Starts the new container if the old one ran, then removes the old one. */
  async finish(id: string, signal: AbortSignal): Promise<ContainerDetail> {
    try {
      if (this.wasRunning) await this.docker.startContainer(id, signal)
    } catch (err) {
      await this.rollBack()
      throw portConflictOf(err) ?? err
    }
    // Its volumes stay: the new container mounts them.
    await this.docker.removeContainer(this.oldId, { force: true, volumes: false }).catch(() => {})
    return detailOf(await this.docker.inspectContainer(id, signal))
  }

  /** Puts the old container back as it was; without the call's signal, which may be what aborted. */
  private async rollBack(): Promise<void> {
    if (this.made)
      await this.docker.removeContainer(this.made, { force: true, volumes: false }).catch(() => {})
    if (this.parked) await this.docker.renameContainer(this.oldId, this.name).catch(() => {})
    if (this.wasRunning) await this.docker.startContainer(this.oldId).catch(() => {})
  }
}

/** The image to recreate on: the one asked for, else the old one's reference, else its id when that tag moved away. */
async function recreatedImage(
  docker: Docker,
  old: ContainerInspect,
  image: string | undefined,
  signal: AbortSignal,
): Promise<{ ref: string; image: ImageInspect }> {
  if (image !== undefined) return { ref: image, image: await requireImage(docker, image, signal) }
  try {
    return { ref: old.Config.Image, image: await docker.inspectImage(old.Config.Image, signal) }
  } catch {
    return { ref: old.Image, image: await requireImage(docker, old.Image, signal) }
  }
}

async function recreatedSpec(
  docker: Docker,
  plan: PortPlanner,
  old: ContainerInspect,
  args: RecreateArgs,
  { ref, image }: { ref: string; image: ImageInspect },
  signal: AbortSignal,
): Promise<ContainerSpec> {
  const { Hostname, ...config } = old.Config
  const host = old.HostConfig
  let ports: Pick<ContainerSpec, 'ExposedPorts'> & { PortBindings: unknown } = {
    ExposedPorts: config.ExposedPorts,
    PortBindings: keptBindings(old),
  }
  if (args.ports) {
    const plans = await plan(docker, args.ports, args.port_range, {
      replacing: { id: old.Id, holds: heldPorts(old), previous: previousHostPorts(old) },
      signal,
    })
    ports = {
      ExposedPorts: { ...(image.Config?.ExposedPorts ?? {}), ...exposedPortsOf(plans) },
      PortBindings: portBindingsOf(plans),
    }
  }
  const primary = host.NetworkMode ?? ''
  const endpoint = old.NetworkSettings.Networks?.[primary]
  return {
    ...config,
    // Docker names a container's host after its short id; a copied one would carry the old id.
    Hostname: Hostname === old.Id.slice(0, 12) ? undefined : Hostname,
    Image: ref,
    Env: args.env ? envList(args.env) : config.Env,
    Labels: args.labels ?? config.Labels,
    ExposedPorts: ports.ExposedPorts,
    HostConfig: {
      ...host,
      PortBindings: ports.PortBindings,
      Mounts: [...(host.Mounts ?? []), ...anonymousVolumes(old)],
    },
    ...(endpoint ? { NetworkingConfig: { EndpointsConfig: { [primary]: endpointOf(old, endpoint) } } } : {}),
  }
}

/** The old bindings, with the host port Docker picked filled in where the config left it to Docker. */
function keptBindings(old: ContainerInspect): Record<string, PortMappings> {
  const bindings: Record<string, PortMappings> = {}
  for (const [spec, mappings] of Object.entries(old.HostConfig.PortBindings ?? {})) {
    const live = old.NetworkSettings.Ports?.[spec]?.find((m) => Number(m.HostPort) > 0)
    bindings[spec] = (mappings ?? []).map((m) => (m.HostPort ? m : { ...m, HostPort: live?.HostPort ?? '' }))
  }
  return bindings
}

function heldPorts(old: ContainerInspect): Set<string> {
  const held = new Set<string>()
  for (const [spec, mappings] of Object.entries(old.NetworkSettings.Ports ?? {})) {
    const protocol = spec.split('/')[1] ?? 'tcp'
    for (const m of mappings ?? []) if (Number(m.HostPort) > 0) held.add(`${m.HostPort}/${protocol}`)
  }
  return held
}

function previousHostPorts(old: ContainerInspect): Map<string, number> {
  const previous = new Map<string, number>()
  for (const p of portsOf(old)) if (p.host !== null) previous.set(`${p.container}/${p.protocol}`, p.host)
  return previous
}

/** Volumes Docker made for the image's VOLUMEs: named in no config, so a new container would get fresh, empty ones. */
function anonymousVolumes(old: ContainerInspect): object[] {
  const declared = new Set([
    ...(old.HostConfig.Binds ?? []).map((bind) => bind.split(':')[1]),
    ...(old.HostConfig.Mounts ?? []).map((m) => m.Target),
  ])
  return (old.Mounts ?? [])
    .filter((m) => m.Type === 'volume' && m.Name && !declared.has(m.Destination))
    .map((m) => ({ Type: 'volume', Source: m.Name, Target: m.Destination, ReadOnly: !m.RW }))
}

type Endpoint = NonNullable<ContainerInspect['NetworkSettings']['Networks']>[string]

function endpointOf(old: ContainerInspect, endpoint: Endpoint): object {
  return {
    // Docker adds the short id as an alias on user networks; the new container gets its own.
    Aliases: endpoint.Aliases?.filter((alias) => alias !== old.Id.slice(0, 12)) ?? null,
    Links: endpoint.Links ?? null,
    IPAMConfig: endpoint.IPAMConfig ?? null,
    DriverOpts: endpoint.DriverOpts ?? null,
  }
}

/** Networks beyond the primary one; Docker's create takes one, the others are connected after. */
function extraNetworks(old: ContainerInspect): [string, unknown][] {
  const primary = old.HostConfig.NetworkMode ?? ''
  return Object.entries(old.NetworkSettings.Networks ?? {})
    .filter(([network]) => network !== primary && !(primary === 'default' && network === 'bridge'))
    .map(([network, endpoint]) => [network, endpointOf(old, endpoint)])
}
