import Dockerode from 'dockerode'
import { z } from 'zod'
import { messageOf } from './log.ts'

/** What the agent needs from the host's Docker Engine. */
export interface Docker {
  /** Where the engine is reached: a socket path or a tcp:// address. */
  readonly address: string
  ping(signal?: AbortSignal): Promise<void>
  /** The engine's version, e.g. `27.3.1`. */
  version(signal?: AbortSignal): Promise<string>
  info(signal?: AbortSignal): Promise<DockerInfo>
}

export interface DockerInfo {
  containers: number
  running: number
  images: number
  /** Where the engine keeps its data, e.g. `/var/lib/docker`. */
  rootDir: string | null
}

/** A request to Docker that failed; `status` is Docker's HTTP status, null when Docker was not reached. */
export class DockerError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message)
    this.name = 'DockerError'
  }
}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

// @types/dockerode lags dockerode 5, whose calls take `{ abortSignal }`; results are checked below.
interface EngineCalls {
  ping(opts: { abortSignal?: AbortSignal }): Promise<unknown>
  version(opts: { abortSignal?: AbortSignal }): Promise<unknown>
  info(opts: { abortSignal?: AbortSignal }): Promise<unknown>
}

const versionReply = z.object({ Version: z.string() })
const infoReply = z.object({
  Containers: z.number().int(),
  ContainersRunning: z.number().int(),
  Images: z.number().int(),
  DockerRootDir: z.string().optional(),
})
const failure = z.object({ statusCode: z.number().int(), json: z.unknown() })
const failureBody = z.object({ message: z.string() })

/**
 * Docker at `address` (a unix socket path, `unix://…`, `tcp://host:port`, `http(s)://host:port`);
 * without one, DOCKER_HOST as the Docker CLI reads it, else /var/run/docker.sock.
 */
export function connectDocker(address?: string): Docker {
  const engine = (address ? new Dockerode(engineOptions(address)) : new Dockerode()) as unknown as EngineCalls
  const where = address ?? (process.env.DOCKER_HOST || DEFAULT_DOCKER_SOCKET)

  async function request<T>(work: () => Promise<unknown>, reply: z.ZodType<T>): Promise<T> {
    let raw: unknown
    try {
      raw = await work()
    } catch (err) {
      throw toDockerError(where, err)
    }
    const parsed = reply.safeParse(raw)
    if (!parsed.success) throw new DockerError(`Docker at ${where} sent an unexpected reply`, null)
    return parsed.data
  }

  return {
    address: where,
    async ping(signal) {
      await request(() => engine.ping({ abortSignal: signal }), z.unknown())
    },
    async version(signal) {
      const reply = await request(() => engine.version({ abortSignal: signal }), versionReply)
      return reply.Version
    },
    async info(signal) {
      const reply = await request(() => engine.info({ abortSignal: signal }), infoReply)
      return {
        containers: reply.Containers,
        running: reply.ContainersRunning,
        images: reply.Images,
        rootDir: reply.DockerRootDir ?? null,
      }
    },
  }
}

/** Modem options for an explicit address; they override anything DOCKER_HOST would set. */
export function engineOptions(address: string): Dockerode.DockerOptions {
  const unset = { host: undefined, port: undefined, protocol: undefined } as const
  if (address.startsWith('/')) return { ...unset, socketPath: address }
  if (address.startsWith('unix://')) return { ...unset, socketPath: address.slice('unix://'.length) }
  let url: URL | null = null
  try {
    url = new URL(address)
  } catch {
    // reported below with the forms that work
  }
  if (url?.hostname && (url.protocol === 'tcp:' || url.protocol === 'http:')) {
    return { socketPath: undefined, protocol: 'http', host: url.hostname, port: url.port || 2375 }
  }
  if (url?.hostname && url.protocol === 'https:') {
    return { socketPath: undefined, protocol: 'https', host: url.hostname, port: url.port || 2376 }
  }
  throw new Error(`unsupported Docker address "${address}": give a unix socket path or tcp://host:port`)
}

function toDockerError(where: string, err: unknown): Error {
  if (err instanceof Error && err.name === 'AbortError') return err
  const failed = failure.safeParse(err)
  if (failed.success) {
    const body = failureBody.safeParse(failed.data.json)
    return new DockerError(body.success ? body.data.message : messageOf(err), failed.data.statusCode)
  }
  return new DockerError(`cannot reach Docker at ${where}: ${messageOf(err)}`, null)
}
