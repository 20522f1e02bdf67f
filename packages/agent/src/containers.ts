import { randomBytes } from 'node:crypto'
import {
  type ContainerDetail,
  type ContainerSummary,
  LABELS,
  type OpArgs,
  type PublishedPort,
} from '@berth/shared'
import { mapBounded } from './concurrency.ts'
import {
  type ContainerInspect,
  type ContainerLimits,
  type ContainerSpec,
  type Docker,
  DockerError,
  type ImageInspect,
  type PortMappings,
} from './docker/index.ts'
import { OpError, recast } from './errors.ts'
import type { OpContext } from './ops.ts'
import { type PortPlan, planPorts, portConflictOf } from './ports.ts'

const INSPECT_CONCURRENCY = 16
/** Docker's time for "never", e.g. FinishedAt of a container that never stopped. */
const ZERO_TIME_MS = 0

// ---------------------------------------------------------------- Docker's inspect → what the protocol reports

/** A container as the inventory and events report it. */
export function summaryOf(c: ContainerInspect): ContainerSummary {
  const status = c.State.Status
  return {
    docker_id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    status,
    exit_code: status === 'exited' || status === 'dead' ? c.State.ExitCode : null,
    health: healthOf(c.State.Health?.Status),
    created_at: unixMs(c.Created) ?? 0,
    started_at: unixMs(c.State.StartedAt),
    finished_at: unixMs(c.State.FinishedAt),
    ports: portsOf(c),
    labels: c.Config.Labels ?? {},
    ...hostAccessOf(c),
  }
}

/** Namespaces a container may share with its host, by their HostConfig field. */
const HOST_MODES = {
  PidMode: 'pid',
  NetworkMode: 'network',
  IpcMode: 'ipc',
  UTSMode: 'uts',
  UsernsMode: 'userns',
}

/** What of its host a container reaches: root on the host for whoever runs a program in it. */
function hostAccessOf(c: ContainerInspect): Pick<ContainerSummary, 'host_access'> {
  const host = c.HostConfig
  const access: string[] = []
  if (host.Privileged === true) access.push('privileged')
  for (const [field, name] of Object.entries(HOST_MODES))
    if (host[field] === 'host') access.push(`${name}=host`)
  if (Array.isArray(host.CapAdd) && host.CapAdd.length > 0) access.push('cap_add')
  if (Array.isArray(host.Devices) && host.Devices.length > 0) access.push('devices')
  if (Array.isArray(host.SecurityOpt) && host.SecurityOpt.some((o) => /unconfined/.test(String(o)))) {
    access.push('unconfined')
  }
  if ((c.Mounts ?? []).some((m) => m.Type === 'bind')) access.push('bind')
  return access.length > 0 ? { host_access: access } : {}
}

export function detailOf(c: ContainerInspect): ContainerDetail {
  const host = c.HostConfig
  return {
    ...summaryOf(c),
    env: envObject(c.Config.Env ?? []),
    cmd: c.Config.Cmd ?? null,
    entrypoint: c.Config.Entrypoint ?? null,
    working_dir: c.Config.WorkingDir || null,
    mounts: (c.Mounts ?? []).map((m) => ({
      type: m.Type,
      source: m.Source,
      target: m.Destination,
      readonly: !m.RW,
      name: m.Name || null,
    })),
    resources: {
      cpus: cpusOf(c),
      memory: host.Memory && host.Memory > 0 ? host.Memory : null,
      pids: host.PidsLimit && host.PidsLimit > 0 ? host.PidsLimit : null,
    },
    restart: host.RestartPolicy?.Name || 'no',
    networks: Object.keys(c.NetworkSettings.Networks ?? {}),
  }
}

/** The CPUs a container may use; null when unlimited. */
export function cpusOf(c: ContainerInspect): number | null {
  const { NanoCpus, CpuQuota, CpuPeriod } = c.HostConfig
  if (NanoCpus && NanoCpus > 0) return NanoCpus / 1e9
  if (CpuQuota && CpuQuota > 0 && CpuPeriod && CpuPeriod > 0) return CpuQuota / CpuPeriod
  return null
}

/** Unix ms of one of Docker's RFC 3339 times; null for Docker's zero time or anything unreadable. */
export function unixMs(text: string | null | undefined): number | null {
  const ms = text ? Date.parse(text) : Number.NaN
  return Number.isFinite(ms) && ms > ZERO_TIME_MS ? ms : null
}

function healthOf(status: string | undefined): ContainerSummary['health'] {
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : 'none'
}

function envObject(list: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const entry of list) {
    const eq = entry.indexOf('=')
    if (eq === -1) env[entry] = ''
    else env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return env
}

export const envList = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`)

/**
 * Ports as Docker publishes them while the container runs; for a container that does not run, the
 * bindings of its config. IPv4 and IPv6 bindings of the same host port are reported once.
 */
function portsOf(c: ContainerInspect): PublishedPort[] {
  const live = c.NetworkSettings.Ports ?? {}
  const source: Record<string, PortMappings> =
    Object.keys(live).length > 0
      ? live
      : {
          ...Object.fromEntries(Object.keys(c.Config.ExposedPorts ?? {}).map((p) => [p, null])),
          ...(c.HostConfig.PortBindings ?? {}),
        }
  const ports: PublishedPort[] = []
  const seen = new Set<string>()
  for (const [spec, mappings] of Object.entries(source)) {
    const [number, proto] = spec.split('/')
    const container = Number(number)
    const protocol = proto === 'udp' || proto === 'sctp' ? proto : 'tcp'
    if (!(container > 0)) continue
    const hosts = mappings?.length ? mappings : [null]
    for (const m of hosts) {
      const host = Number(m?.HostPort) > 0 ? Number(m?.HostPort) : null
      const id = `${container}/${protocol}/${host}`
      if (seen.has(id)) continue
      seen.add(id)
      ports.push({ host, container, protocol, host_ip: m?.HostIp || null })
    }
  }
  return ports
}

// ---------------------------------------------------------------- listing

/** Every container on the host (all states) as summaries; one gone between list and inspect is left out. */
export async function listSummaries(docker: Docker, signal?: AbortSignal): Promise<ContainerSummary[]> {
  const listed = await docker.listContainers(true, signal)
  const inspected = await mapBounded(listed, INSPECT_CONCURRENCY, (c) =>
    docker.inspectContainer(c.Id, signal).catch((err: unknown) => {
      if (err instanceof DockerError && err.status === 404) return null
      throw err
    }),
  )
  return inspected.filter((c): c is ContainerInspect => c !== null).map(summaryOf)
}

// ---------------------------------------------------------------- create

type CreateArgs = OpArgs<'container.create'>

export async function createContainer(
  args: CreateArgs,
  { docker, signal, agent }: OpContext,
): Promise<ContainerDetail> {
  if (args.contained) await refuseHostReach(docker, args, signal)
  await requireImage(docker, args.image, signal)
  const id = await agent.portLock.run(async () => {
    const ports = await planPorts(docker, args.ports, args.port_range, { signal })
    const spec: ContainerSpec = {
      Image: args.image,
      Cmd: args.cmd,
      Entrypoint: args.entrypoint,
      WorkingDir: args.working_dir,
      Env: envList(args.env),
      Labels: { [LABELS.id]: args.berth_id, ...args.labels },
      ExposedPorts: exposedPortsOf(ports),
      HostConfig: {
        ...limitsOf(args.resources),
        PortBindings: portBindingsOf(ports),
        Mounts: args.volumes.map((v) => ({
          // An absolute path is a folder of the host; anything else names a volume Docker makes on first use.
          Type: v.source.startsWith('/') ? 'bind' : 'volume',
          Source: v.source,
          Target: v.target,
          ReadOnly: v.readonly,
        })),
        NetworkMode: args.network,
        RestartPolicy: { Name: args.restart, MaximumRetryCount: 0 },
      },
    }
    return docker.createContainer(spec, args.name, signal).catch((err: unknown) => {
      throw missingImage(err, args.image) ?? err
    })
  })
  try {
    if (args.start) await docker.startContainer(id, signal)
    return detailOf(await docker.inspectContainer(id, signal))
  } catch (err) {
    // Nothing half-made stays behind.
    await docker.removeContainer(id, { force: true, volumes: false }).catch(() => {})
    throw portConflictOf(err) ?? err
  }
}

/** What a caller who may not reach the host may not give a new container; refused before anything is made. */
async function refuseHostReach(docker: Docker, args: CreateArgs, signal: AbortSignal): Promise<void> {
  const refuse = (message: string, details: Record<string, unknown>) =>
    new OpError('forbidden', message, details, 'host_access_forbidden')
  const { network } = args
  if (network === 'host' || network?.startsWith('container:')) {
    throw refuse(`network ${network} shares the namespace of the host or another container`, { network })
  }
  // Host paths themselves the API refuses before calling.
  const named = new Set(args.volumes.map((v) => v.source))
  if (named.size === 0) return
  const bound = (await docker.listVolumes(signal)).filter((v) => named.has(v.Name) && bindsHostPath(v))
  if (bound.length > 0) {
    throw refuse('these volumes are bound to paths of the host', { volumes: bound.map((v) => v.Name) })
  }
}

/** A local volume made with `o=bind` or a `device` path mounts a path of the host. */
function bindsHostPath(volume: { Driver: string; Options?: Record<string, string> | null }): boolean {
  const options = volume.Options ?? {}
  return (
    volume.Driver === 'local' &&
    ((options.o ?? '').split(',').some((o) => o === 'bind' || o === 'rbind') ||
      (options.device ?? '').startsWith('/'))
  )
}

/** Docker's update body for the limits given; memory without extra swap. */
export function limitsOf(resources: CreateArgs['resources']): ContainerLimits {
  const limits: ContainerLimits = {}
  if (resources.cpus !== undefined) limits.NanoCpus = Math.round(resources.cpus * 1e9)
  if (resources.memory !== undefined) {
    limits.Memory = resources.memory
    limits.MemorySwap = resources.memory
  }
  if (resources.pids !== undefined) limits.PidsLimit = resources.pids
  return limits
}

function exposedPortsOf(ports: PortPlan[]): Record<string, object> {
  return Object.fromEntries(ports.map((p) => [`${p.container}/${p.protocol}`, {}]))
}

function portBindingsOf(ports: PortPlan[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {}
  for (const p of ports) {
    const spec = `${p.container}/${p.protocol}`
    bindings[spec] = [...(bindings[spec] ?? []), { HostIp: '', HostPort: String(p.host) }]
  }
  return bindings
}

/** The image, which must be on this host already: Berth never pulls as a side effect. */
async function requireImage(docker: Docker, image: string, signal?: AbortSignal): Promise<ImageInspect> {
  return docker.inspectImage(image, signal).catch((err: unknown) => {
    throw missingImage(err, image) ?? err
  })
}

function missingImage(err: unknown, image: string): OpError | null {
  if (!(err instanceof DockerError && err.status === 404 && /no such image/i.test(err.message))) return null
  return new OpError('not_found', `the image ${image} is not on this host; pull it first`)
}

// ---------------------------------------------------------------- recreate

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
  const id = await agent.portLock.run(async () => {
    const spec = await recreatedSpec(docker, old, args, image, signal)
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
    const plans = await planPorts(docker, args.ports, args.port_range, {
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

// ---------------------------------------------------------------- actions

type ActionArgs = OpArgs<'container.action'>

/** A refusal older engines answer with 500 rather than 409, e.g. unpausing a container that is not paused. */
const STATE_REFUSAL =
  /is not paused|is already paused|is not running|is paused|is restarting|is dead|is marked for removal/i

export async function containerAction(
  args: ActionArgs,
  { docker, signal }: OpContext,
): Promise<ContainerDetail> {
  const { ref } = args
  try {
    switch (args.action) {
      case 'start':
        await docker.startContainer(ref, signal)
        break
      case 'stop':
        await docker.stopContainer(ref, args.timeout, signal)
        break
      case 'restart':
        await docker.restartContainer(ref, args.timeout, signal)
        break
      case 'pause':
        await docker.pauseContainer(ref, signal)
        break
      case 'unpause':
        await docker.unpauseContainer(ref, signal)
        break
      case 'kill':
        await docker.killContainer(ref, args.signal, signal)
        break
      default:
        args.action satisfies never
    }
  } catch (err) {
    throw portConflictOf(err) ?? stateRefusal(err)
  }
  return detailOf(await docker.inspectContainer(ref, signal))
}

/** Docker refusing what the container's state does not allow, as a state_error. */
export function stateRefusal(err: unknown): unknown {
  return recast(
    err,
    'state_error',
    (e) => e.status === 409 || (e.status === 500 && STATE_REFUSAL.test(e.message)),
  )
}
