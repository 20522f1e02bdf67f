import type { ContainerDetail, ContainerSummary, PublishedPort } from '@berth/shared'
import { mapBounded } from '../concurrency.ts'
import { type ContainerInspect, type Docker, DockerError, type PortMappings } from '../docker/index.ts'

// Docker's inspect → what the protocol reports of a container.

const INSPECT_CONCURRENCY = 16
/** Docker's time for "never", e.g. FinishedAt of a container that never stopped. */
const ZERO_TIME_MS = 0

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

/**
 * Ports as Docker publishes them while the container runs; for a container that does not run, the
 * bindings of its config. IPv4 and IPv6 bindings of the same host port are reported once.
 */
export function portsOf(c: ContainerInspect): PublishedPort[] {
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
