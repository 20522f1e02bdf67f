import { z } from 'zod'

/** `HostIp`/`HostPort` pairs of one container port; null when the port is exposed but not published. */
export const portMappings = z
  .array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() }))
  .nullable()
export type PortMappings = z.infer<typeof portMappings>

const CONTAINER_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const

/** Docker's inspect; Config and HostConfig keep every field so that a container can be made again from them. */
export interface ContainerInspect {
  Id: string
  Name: string
  Created: string
  Image: string
  RestartCount?: number
  State: {
    Status: (typeof CONTAINER_STATES)[number]
    ExitCode: number
    StartedAt: string
    FinishedAt: string
    Health?: { Status: string } | null
  }
  Config: {
    Image: string
    Hostname?: string
    Env?: string[] | null
    Cmd?: string[] | null
    Entrypoint?: string[] | null
    WorkingDir?: string | null
    Labels?: Record<string, string> | null
    ExposedPorts?: Record<string, unknown> | null
    Tty?: boolean
    [field: string]: unknown
  }
  HostConfig: {
    NetworkMode?: string | null
    PortBindings?: Record<string, PortMappings> | null
    Binds?: string[] | null
    Mounts?: { Target: string; [field: string]: unknown }[] | null
    NanoCpus?: number | null
    CpuQuota?: number | null
    CpuPeriod?: number | null
    Memory?: number | null
    PidsLimit?: number | null
    RestartPolicy?: { Name: string } | null
    [field: string]: unknown
  }
  NetworkSettings: {
    Ports?: Record<string, PortMappings> | null
    Networks?: Record<
      string,
      {
        IPAddress?: string | null
        Aliases?: string[] | null
        Links?: string[] | null
        IPAMConfig?: unknown
        DriverOpts?: unknown
      }
    > | null
  }
  Mounts?: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[] | null
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isList = (value: unknown) => value == null || Array.isArray(value)

/**
 * The checks the agent's readers of an inspect rely on, written out rather than a zod schema: every
 * container call reads this reply, and parsing it whole with zod took longer than the rest of the
 * agent's share of an inspect. The engine is the agent's own; the frames it answers with are parsed with zod.
 */
function looksInspected(value: unknown): boolean {
  if (!isObject(value)) return false
  const { Id, Name, Created, Image, State, Config, HostConfig, NetworkSettings, Mounts } = value
  return (
    typeof Id === 'string' &&
    typeof Name === 'string' &&
    typeof Created === 'string' &&
    typeof Image === 'string' &&
    isObject(State) &&
    (CONTAINER_STATES as readonly unknown[]).includes(State.Status) &&
    typeof State.ExitCode === 'number' &&
    typeof State.StartedAt === 'string' &&
    typeof State.FinishedAt === 'string' &&
    isObject(Config) &&
    typeof Config.Image === 'string' &&
    isList(Config.Env) &&
    isList(Config.Cmd) &&
    isList(Config.Entrypoint) &&
    isObject(HostConfig) &&
    isList(HostConfig.Binds) &&
    isList(HostConfig.Mounts) &&
    isObject(NetworkSettings) &&
    isList(Mounts)
  )
}
export const containerInspect = z.custom<ContainerInspect>(looksInspected)
