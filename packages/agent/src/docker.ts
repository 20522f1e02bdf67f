import { Duplex, Readable } from 'node:stream'
import Dockerode from 'dockerode'
import { z } from 'zod'
import { PlainDockerHttp, type PlainEndpoint, type PlainReply, type PlainRequest } from './docker-http.ts'
import { messageOf } from './log.ts'

/** What the agent needs from the host's Docker Engine. Replies keep Docker's field names; ops map them. */
export interface Docker {
  /** Where the engine is reached: a socket path or a tcp:// address. */
  readonly address: string
  ping(signal?: AbortSignal): Promise<void>
  /** The engine's version, e.g. `27.3.1`. */
  version(signal?: AbortSignal): Promise<string>
  info(signal?: AbortSignal): Promise<DockerInfo>

  /** Containers in every state when `all`, else the running (and paused) ones. */
  listContainers(all: boolean, signal?: AbortSignal): Promise<ContainerListing[]>
  /** Containers in every state that carry every label given, as `key` or `key=value`. */
  findContainers(labels: string[], signal?: AbortSignal): Promise<ContainerListing[]>
  /** A container by id, unique id prefix or name. */
  inspectContainer(ref: string, signal?: AbortSignal): Promise<ContainerInspect>
  /** Creates a container from Docker's create body; returns its id. */
  createContainer(spec: ContainerSpec, name?: string, signal?: AbortSignal): Promise<string>
  /** Starting a running container is success (Docker's 304). */
  startContainer(ref: string, signal?: AbortSignal): Promise<void>
  /** Stopping a stopped container is success (Docker's 304); `timeout` is the seconds before SIGKILL. */
  stopContainer(ref: string, timeout?: number, signal?: AbortSignal): Promise<void>
  restartContainer(ref: string, timeout?: number, signal?: AbortSignal): Promise<void>
  pauseContainer(ref: string, signal?: AbortSignal): Promise<void>
  unpauseContainer(ref: string, signal?: AbortSignal): Promise<void>
  killContainer(ref: string, killSignal?: string, signal?: AbortSignal): Promise<void>
  removeContainer(
    ref: string,
    options: { force: boolean; volumes: boolean },
    signal?: AbortSignal,
  ): Promise<void>
  renameContainer(ref: string, name: string, signal?: AbortSignal): Promise<void>
  /** Changes a container's limits live. */
  updateContainer(ref: string, limits: ContainerLimits, signal?: AbortSignal): Promise<void>
  connectNetwork(network: string, container: string, endpoint: unknown, signal?: AbortSignal): Promise<void>
  /**
   * A container's log as stdout and stderr pieces (a TTY container's raw output as stdout). Reading it
   * slowly pauses Docker's stream; destroying it or aborting `signal` closes Docker's stream.
   */
  containerLogs(ref: string, options: LogOptions, signal: AbortSignal): Promise<OutputStream>
  /** One reading of a container's counters, without Docker's one-second wait for a second reading. */
  containerStats(ref: string, signal?: AbortSignal): Promise<StatsReading>
  /** Docker's container events from now on, once the stream is open; ends when Docker closes it or `signal` aborts. */
  containerEvents(signal: AbortSignal): Promise<AsyncIterable<DockerEvent>>

  listImages(signal?: AbortSignal): Promise<ImageListing[]>
  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageInspect>
  /** Pulls an image (`latest` when the reference names no tag, as `docker pull` does); rejects with Docker's message. */
  pullImage(ref: string, signal?: AbortSignal): Promise<void>
  /** Makes the image `ref` of one layer, the root filesystem in `tar` (`docker import`). */
  importImage(ref: string, tar: Readable, signal?: AbortSignal): Promise<void>
  /**
   * Builds an image with the engine's classic builder from a tar stream of the build context, and
   * yields its progress as it comes. A failed build ends in a `{ error }` message, not a rejection;
   * aborting `signal` ends the request, which stops the build.
   */
  buildImage(
    context: Readable,
    options: BuildOptions,
    signal: AbortSignal,
  ): Promise<AsyncIterable<BuildProgress>>
  removeImage(ref: string, force: boolean, signal?: AbortSignal): Promise<ImageRemoval[]>
  /** Removes dangling images, or with `all` every image no container uses. */
  pruneImages(all: boolean, signal?: AbortSignal): Promise<ImagePrune>

  listVolumes(signal?: AbortSignal): Promise<VolumeListing[]>
  createVolume(name: string, labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeListing>
  removeVolume(name: string, force: boolean, signal?: AbortSignal): Promise<void>
  pruneVolumes(signal?: AbortSignal): Promise<VolumePrune>

  listNetworks(signal?: AbortSignal): Promise<NetworkListing[]>
  inspectNetwork(ref: string, signal?: AbortSignal): Promise<NetworkListing>
  /** Creates a network; returns its id. */
  createNetwork(spec: NetworkSpec, signal?: AbortSignal): Promise<string>
  removeNetwork(ref: string, signal?: AbortSignal): Promise<void>

  /** What is at `path` in a container, running or stopped (Docker's archive stat); null when nothing is. */
  statPath(ref: string, path: string, signal?: AbortSignal): Promise<PathStat | null>
  /** A tar of what is at `path` in a container, as Docker's archive API makes it. */
  getArchive(ref: string, path: string, signal: AbortSignal): Promise<Readable>
  /** Unpacks a tar into the directory `path` of a container, which must exist. */
  putArchive(ref: string, path: string, tar: Readable, signal?: AbortSignal): Promise<void>

  /** Prepares a command to run in a running container (an argument array, no shell); returns the exec's id. */
  createExec(ref: string, spec: ExecSpec, signal?: AbortSignal): Promise<string>
  /** Starts an exec and gives its stdout and stderr demultiplexed; aborting `signal` closes the stream. */
  startExec(id: string, signal: AbortSignal): Promise<OutputStream>
  /**
   * Starts an exec made with `stdin` on a hijacked connection: its output as pieces (raw stdout with a
   * tty) and its stdin to write to. Destroying it or aborting `signal` closes the connection.
   */
  attachExec(id: string, tty: boolean, signal: AbortSignal): Promise<ExecAttachment>
  /** Sets the size of a running exec's tty. */
  resizeExec(id: string, size: TtySize, signal?: AbortSignal): Promise<void>
  /** An exec's state; `ExitCode` is set once it has ended. */
  inspectExec(id: string, signal?: AbortSignal): Promise<ExecInspect>
}

export interface ExecSpec {
  cmd: string[]
  /** `NAME=value` entries on top of the container's environment. */
  env?: string[]
  /** Attaches the process's stdin, for attachExec. */
  stdin?: boolean
  tty?: boolean
  user?: string
  workdir?: string
}

export interface ExecAttachment extends OutputStream {
  /** Writes to the process's stdin; nothing once the connection is closed. */
  write(data: Buffer): void
}

export interface TtySize {
  cols: number
  rows: number
}

/** Docker's stat of a path in a container; `mode` is Go's os.FileMode. */
export interface PathStat {
  name: string
  size: number
  mode: number
  /** Where a symlink leads, resolved inside the container. */
  linkTarget: string
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

// ---------------------------------------------------------------- Docker's shapes, as far as the agent reads them

/** `HostIp`/`HostPort` pairs of one container port; null when the port is exposed but not published. */
const portMappings = z
  .array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() }))
  .nullable()
export type PortMappings = z.infer<typeof portMappings>

const containerListing = z.object({
  Id: z.string(),
  Names: z.array(z.string()),
  ImageID: z.string().optional(),
  Created: z.number().optional(),
  State: z.string(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Ports: z
    .array(z.object({ PrivatePort: z.number(), PublicPort: z.number().optional(), Type: z.string() }))
    .nullish(),
  Mounts: z.array(z.object({ Type: z.string(), Name: z.string().optional() })).nullish(),
})
export type ContainerListing = z.infer<typeof containerListing>

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
const containerInspect = z.custom<ContainerInspect>(looksInspected)

/** Docker's create body: what the agent sets, plus anything carried over from an inspected container. */
export interface ContainerSpec {
  Image: string
  Cmd?: string[] | null
  Entrypoint?: string[] | null
  WorkingDir?: string | null
  Env?: string[] | null
  Labels?: Record<string, string> | null
  ExposedPorts?: Record<string, unknown> | null
  HostConfig?: Record<string, unknown>
  NetworkingConfig?: { EndpointsConfig: Record<string, unknown> }
  [field: string]: unknown
}

export interface ContainerLimits {
  NanoCpus?: number
  Memory?: number
  MemorySwap?: number
  PidsLimit?: number
}

export interface LogOptions {
  /** The container runs with a TTY: its log is one raw stream, not multiplexed. */
  tty: boolean
  follow: boolean
  tail: number | 'all'
  /** Unix seconds. */
  since?: number
  timestamps: boolean
}

export interface OutputPiece {
  stream: 'stdout' | 'stderr'
  data: Buffer
}

export interface OutputStream extends AsyncIterable<OutputPiece> {
  destroy(): void
}

const statsReading = z.object({
  read: z.string(),
  cpu_stats: z.object({
    cpu_usage: z.object({ total_usage: z.number(), percpu_usage: z.array(z.number()).nullish() }),
    system_cpu_usage: z.number().nullish(),
    online_cpus: z.number().nullish(),
  }),
  memory_stats: z.object({
    usage: z.number().nullish(),
    limit: z.number().nullish(),
    stats: z.record(z.string(), z.number()).nullish(),
  }),
  networks: z.record(z.string(), z.object({ rx_bytes: z.number(), tx_bytes: z.number() })).nullish(),
  blkio_stats: z
    .object({
      io_service_bytes_recursive: z.array(z.object({ op: z.string(), value: z.number() })).nullish(),
    })
    .nullish(),
  pids_stats: z.object({ current: z.number().nullish() }).nullish(),
})
export type StatsReading = z.infer<typeof statsReading>

const dockerEvent = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: z.string() }),
  timeNano: z.number().optional(),
})
export type DockerEvent = z.infer<typeof dockerEvent>

const imageListing = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number(),
  Created: z.number(),
  Containers: z.number().nullish(),
})
export type ImageListing = z.infer<typeof imageListing>

const imageInspect = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number(),
  Created: z.string(),
  Config: z.object({ ExposedPorts: z.record(z.string(), z.unknown()).nullish() }).nullish(),
})
export type ImageInspect = z.infer<typeof imageInspect>

const imageRemoval = z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() })
export type ImageRemoval = z.infer<typeof imageRemoval>
const imagePrune = z.object({ ImagesDeleted: z.array(imageRemoval).nullish(), SpaceReclaimed: z.number() })
export type ImagePrune = z.infer<typeof imagePrune>

const volumeListing = z.object({
  Name: z.string(),
  Driver: z.string(),
  Mountpoint: z.string(),
  CreatedAt: z.string().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
})
export type VolumeListing = z.infer<typeof volumeListing>
const volumePrune = z.object({ VolumesDeleted: z.array(z.string()).nullish(), SpaceReclaimed: z.number() })
export type VolumePrune = z.infer<typeof volumePrune>

const networkListing = z.object({
  Id: z.string(),
  Name: z.string(),
  Driver: z.string(),
  Scope: z.string(),
  Internal: z.boolean(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Created: z.string().nullish(),
})
export type NetworkListing = z.infer<typeof networkListing>

/** The query of Docker's `POST /build` that the agent sets. */
export interface BuildOptions {
  /** The tag the image gets, `name:tag`. */
  t: string
  /** The Dockerfile's path inside the context. */
  dockerfile: string
  /** Removes intermediate containers even when the build fails. */
  forcerm: boolean
  cpuperiod?: number
  cpuquota?: number
  memory?: number
  memswap?: number
}

const buildProgress = z.object({
  stream: z.string().optional(),
  status: z.string().optional(),
  progress: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).optional(),
  aux: z.object({ ID: z.string().optional() }).optional(),
})
export type BuildProgress = z.infer<typeof buildProgress>

export interface NetworkSpec {
  name: string
  driver: string
  internal: boolean
  labels: Record<string, string>
}

const versionReply = z.object({ Version: z.string() })
const infoReply = z.object({
  Containers: z.number().int(),
  ContainersRunning: z.number().int(),
  Images: z.number().int(),
  DockerRootDir: z.string().optional(),
})
const createdReply = z.object({ Id: z.string() })
const pullProgress = z.object({
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).optional(),
})
const failure = z.object({ statusCode: z.number().int(), json: z.unknown(), message: z.string() })
const failureBody = z.object({ message: z.string() })

// ---------------------------------------------------------------- the dockerode implementation

// @types/dockerode lags dockerode 5, whose calls take `{ abortSignal }`; results are checked below.
interface EngineCalls {
  ping(opts: { abortSignal?: AbortSignal }): Promise<unknown>
  buildImage(context: Readable, opts: BuildOptions & { abortSignal: AbortSignal }): Promise<unknown>
  version(opts: { abortSignal?: AbortSignal }): Promise<unknown>
  info(opts: { abortSignal?: AbortSignal }): Promise<unknown>
  modem: Modem
}

/** docker-modem, which dockerode's own calls go through; used directly where dockerode's wrappers do not fit. */
interface Modem {
  /** Set for a unix socket: the path, or a function that finds it. */
  socketPath?: unknown
  getSocketPath(): Promise<unknown>
  host?: string
  port?: number | string
  protocol?: string
  dial(options: ModemDial, callback: (err: unknown, data: unknown) => void): void
  demuxStream(source: Readable, stdout: PieceSink, stderr: PieceSink): void
}

interface PieceSink {
  write(data: Buffer): boolean
}

interface ModemDial {
  path: string
  method: 'GET' | 'POST' | 'DELETE' | 'HEAD' | 'PUT'
  options: { _query: Record<string, string | number | boolean | object>; _body: unknown }
  /** A request body streamed as is (a tar). */
  file?: Readable
  statusCodes: Record<number, true>
  isStream: boolean
  /** Upgrades the connection and answers with its socket (exec's stdin and output). */
  hijack?: boolean
  abortSignal?: AbortSignal
}

/** One request to Docker's HTTP API. */
interface Request {
  method: ModemDial['method']
  path: string
  query?: Record<string, string | number | boolean | object | undefined>
  body?: unknown
  file?: Readable
  hijack?: boolean
  /** Statuses that mean success; 2xx when not given. */
  ok?: number[]
  signal?: AbortSignal | undefined
}

const SUCCESS = [200, 201, 204]

/**
 * Docker at `address` (a unix socket path, `unix://…`, `tcp://host:port`, `http(s)://host:port`);
 * without one, DOCKER_HOST as the Docker CLI reads it, else /var/run/docker.sock.
 */
export function connectDocker(address?: string): Docker {
  const engine = (address ? new Dockerode(engineOptions(address)) : new Dockerode()) as unknown as EngineCalls
  const where = address ?? (process.env.DOCKER_HOST || DEFAULT_DOCKER_SOCKET)
  const { modem } = engine

  async function checked<T>(work: () => Promise<unknown>, reply: z.ZodType<T>): Promise<T> {
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

  function dial(request: Request, isStream: boolean): Promise<unknown> {
    const query = definedQuery(request)
    return new Promise((resolve, reject) => {
      modem.dial(
        {
          path: `${request.path}?`,
          method: request.method,
          options: { _query: query as ModemDial['options']['_query'], _body: request.body ?? {} },
          statusCodes: Object.fromEntries((request.ok ?? SUCCESS).map((status) => [status, true])),
          isStream,
          ...(request.file ? { file: request.file } : {}),
          ...(request.hijack ? { hijack: true } : {}),
          ...(request.signal ? { abortSignal: request.signal } : {}),
        },
        (err, data) => (err ? reject(err) : resolve(data)),
      )
    })
  }

  // Plain-HTTP engines (a unix socket, or tcp without TLS) take JSON calls without docker-modem.
  let plain: Promise<PlainDockerHttp | null> | undefined
  const plainHttp = () => {
    plain ??= plainEndpoint(modem).then((endpoint) => endpoint && new PlainDockerHttp(endpoint))
    return plain
  }
  async function sendPlain(http: PlainDockerHttp, request: Request): Promise<unknown> {
    let reply: PlainReply
    try {
      reply = await http.send({
        method: request.method,
        path: request.path,
        query: definedQuery(request),
        body: request.body,
        signal: request.signal,
      })
    } catch (err) {
      throw toDockerError(where, err)
    }
    if ((request.ok ?? SUCCESS).includes(reply.status)) return reply.body
    const body = failureBody.safeParse(reply.body)
    const message = body.success ? body.data.message : typeof reply.body === 'string' ? reply.body.trim() : ''
    throw new DockerError(message || `Docker answered ${reply.status}`, reply.status)
  }

  const send = async <T>(request: Request, reply: z.ZodType<T>): Promise<T> => {
    const http = request.file || request.hijack ? null : await plainHttp()
    return checked(() => (http ? sendPlain(http, request) : dial(request, false)), reply)
  }
  const act = async (request: Request): Promise<void> => {
    await send(request, z.unknown())
  }
  const open = (request: Request): Promise<Readable> =>
    checked(() => dial(request, true), z.instanceof(Readable))

  const container = (ref: string) => `/containers/${encodeURIComponent(ref)}`
  const image = (ref: string) => `/images/${encodeURI(ref)}`

  return {
    address: where,
    async ping(signal) {
      await send({ method: 'GET', path: '/_ping', signal }, z.unknown())
    },
    async version(signal) {
      const reply = await checked(() => engine.version({ abortSignal: signal }), versionReply)
      return reply.Version
    },
    async info(signal) {
      const reply = await checked(() => engine.info({ abortSignal: signal }), infoReply)
      return {
        containers: reply.Containers,
        running: reply.ContainersRunning,
        images: reply.Images,
        rootDir: reply.DockerRootDir ?? null,
      }
    },

    listContainers: (all, signal) =>
      send({ method: 'GET', path: '/containers/json', query: { all }, signal }, z.array(containerListing)),
    findContainers: (labels, signal) =>
      send(
        { method: 'GET', path: '/containers/json', query: { all: true, filters: { label: labels } }, signal },
        z.array(containerListing),
      ),
    inspectContainer: (ref, signal) =>
      send({ method: 'GET', path: `${container(ref)}/json`, signal }, containerInspect),
    async createContainer(spec, name, signal) {
      const path = '/containers/create'
      const reply = await send({ method: 'POST', path, query: { name }, body: spec, signal }, createdReply)
      return reply.Id
    },
    startContainer: (ref, signal) =>
      act({ method: 'POST', path: `${container(ref)}/start`, ok: [204, 304], signal }),
    stopContainer: (ref, timeout, signal) =>
      act({ method: 'POST', path: `${container(ref)}/stop`, query: { t: timeout }, ok: [204, 304], signal }),
    restartContainer: (ref, timeout, signal) =>
      act({ method: 'POST', path: `${container(ref)}/restart`, query: { t: timeout }, signal }),
    pauseContainer: (ref, signal) => act({ method: 'POST', path: `${container(ref)}/pause`, signal }),
    unpauseContainer: (ref, signal) => act({ method: 'POST', path: `${container(ref)}/unpause`, signal }),
    killContainer: (ref, killSignal, signal) =>
      act({ method: 'POST', path: `${container(ref)}/kill`, query: { signal: killSignal }, signal }),
    removeContainer: (ref, { force, volumes }, signal) =>
      act({ method: 'DELETE', path: container(ref), query: { force, v: volumes }, signal }),
    renameContainer: (ref, name, signal) =>
      act({ method: 'POST', path: `${container(ref)}/rename`, query: { name }, signal }),
    updateContainer: (ref, limits, signal) =>
      act({ method: 'POST', path: `${container(ref)}/update`, body: limits, signal }),
    connectNetwork: (network, containerId, endpoint, signal) =>
      act({
        method: 'POST',
        path: `/networks/${encodeURIComponent(network)}/connect`,
        body: { Container: containerId, EndpointConfig: endpoint },
        signal,
      }),
    async containerLogs(ref, options, signal) {
      const source = await open({
        method: 'GET',
        path: `${container(ref)}/logs`,
        query: {
          stdout: true,
          stderr: true,
          follow: options.follow,
          tail: options.tail,
          since: options.since,
          timestamps: options.timestamps,
        },
        signal,
      })
      return outputOf(source, options.tty ? null : modem, signal)
    },
    containerStats: (ref, signal) =>
      send(
        {
          method: 'GET',
          path: `${container(ref)}/stats`,
          query: { stream: false, 'one-shot': true },
          signal,
        },
        statsReading,
      ),
    async containerEvents(signal) {
      const source = await open({
        method: 'GET',
        path: '/events',
        query: { filters: { type: ['container'] } },
        signal,
      })
      return eventsOf(source)
    },

    listImages: (signal) => send({ method: 'GET', path: '/images/json', signal }, z.array(imageListing)),
    inspectImage: (ref, signal) => send({ method: 'GET', path: `${image(ref)}/json`, signal }, imageInspect),
    async pullImage(ref, signal) {
      const source = await open({
        method: 'POST',
        path: '/images/create',
        query: { fromImage: withTag(ref) },
        signal,
      })
      // Docker answers 200 at once and reports a failed pull inside the progress stream.
      for await (const line of jsonLines(source)) {
        const progress = pullProgress.safeParse(line)
        if (progress.success && progress.data.error) {
          throw new DockerError(progress.data.errorDetail?.message ?? progress.data.error, 500)
        }
      }
    },
    async importImage(ref, tar, signal) {
      const [repo, tag] = withTag(ref).split(/:(?=[^:/]+$)/)
      const source = await open({
        method: 'POST',
        path: '/images/create',
        query: { fromSrc: '-', repo, tag },
        file: tar,
        signal,
      })
      for await (const line of jsonLines(source)) {
        const progress = pullProgress.safeParse(line)
        if (progress.success && progress.data.error) {
          throw new DockerError(progress.data.errorDetail?.message ?? progress.data.error, 500)
        }
      }
    },
    async buildImage(context, options, signal) {
      const source = await checked(
        () => engine.buildImage(context, { ...options, abortSignal: signal }),
        z.instanceof(Readable),
      )
      return progressOf(source)
    },
    removeImage: (ref, force, signal) =>
      send({ method: 'DELETE', path: image(ref), query: { force }, signal }, z.array(imageRemoval)),
    pruneImages: (all, signal) =>
      send(
        {
          method: 'POST',
          path: '/images/prune',
          query: { filters: { dangling: [all ? 'false' : 'true'] } },
          signal,
        },
        imagePrune,
      ),

    async listVolumes(signal) {
      const reply = await send(
        { method: 'GET', path: '/volumes', signal },
        z.object({ Volumes: z.array(volumeListing).nullish() }),
      )
      return reply.Volumes ?? []
    },
    createVolume: (name, labels, signal) =>
      send(
        { method: 'POST', path: '/volumes/create', body: { Name: name, Labels: labels }, signal },
        volumeListing,
      ),
    removeVolume: (name, force, signal) =>
      act({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}`, query: { force }, signal }),
    pruneVolumes: (signal) => send({ method: 'POST', path: '/volumes/prune', signal }, volumePrune),

    listNetworks: (signal) => send({ method: 'GET', path: '/networks', signal }, z.array(networkListing)),
    inspectNetwork: (ref, signal) =>
      send({ method: 'GET', path: `/networks/${encodeURIComponent(ref)}`, signal }, networkListing),
    async createNetwork(spec, signal) {
      const body = {
        Name: spec.name,
        Driver: spec.driver,
        Internal: spec.internal,
        Labels: spec.labels,
        CheckDuplicate: true,
      }
      const reply = await send({ method: 'POST', path: '/networks/create', body, signal }, createdReply)
      return reply.Id
    },
    removeNetwork: (ref, signal) =>
      act({ method: 'DELETE', path: `/networks/${encodeURIComponent(ref)}`, signal }),

    async statPath(ref, path, signal) {
      let reply: Readable
      try {
        reply = await open({ method: 'HEAD', path: `${container(ref)}/archive`, query: { path }, signal })
      } catch (err) {
        // The container was found before; a 404 here is the path.
        if (err instanceof DockerError && err.status === 404) return null
        throw err
      }
      reply.resume()
      const header = (reply as Readable & { headers?: Record<string, unknown> }).headers?.[
        'x-docker-container-path-stat'
      ]
      const parsed = pathStat.safeParse(
        typeof header === 'string' ? parseJson(Buffer.from(header, 'base64').toString('utf8')) : null,
      )
      if (!parsed.success) throw new DockerError(`Docker at ${where} sent no stat of ${path}`, null)
      return parsed.data
    },
    getArchive: (ref, path, signal) =>
      open({ method: 'GET', path: `${container(ref)}/archive`, query: { path }, signal }),
    putArchive: (ref, path, tar, signal) =>
      act({ method: 'PUT', path: `${container(ref)}/archive`, query: { path }, file: tar, signal }),

    async createExec(ref, spec, signal) {
      const body = {
        Cmd: spec.cmd,
        Env: spec.env,
        User: spec.user,
        WorkingDir: spec.workdir,
        AttachStdin: spec.stdin === true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: spec.tty === true,
      }
      const reply = await send({ method: 'POST', path: `${container(ref)}/exec`, body, signal }, createdReply)
      return reply.Id
    },
    async startExec(id, signal) {
      const path = `/exec/${encodeURIComponent(id)}/start`
      const source = await open({ method: 'POST', path, body: { Detach: false, Tty: false }, signal })
      return outputOf(source, modem, signal)
    },
    async attachExec(id, tty, signal) {
      const path = `/exec/${encodeURIComponent(id)}/start`
      const body = { Detach: false, Tty: tty }
      const socket = await checked(
        () => dial({ method: 'POST', path, body, hijack: true, signal }, true),
        z.instanceof(Duplex),
      )
      const output = outputOf(socket, tty ? null : modem, signal)
      return Object.assign(output, {
        write(data: Buffer) {
          if (socket.writable) socket.write(data)
        },
      })
    },
    resizeExec: (id, { cols, rows }, signal) =>
      act({
        method: 'POST',
        path: `/exec/${encodeURIComponent(id)}/resize`,
        query: { h: rows, w: cols },
        signal,
      }),
    inspectExec: (id, signal) =>
      send({ method: 'GET', path: `/exec/${encodeURIComponent(id)}/json`, signal }, execInspect),
  }
}

/** `Pid` is the process's pid on the host, 0 once it has ended. */
const execInspect = z.object({
  Running: z.boolean(),
  ExitCode: z.number().int().nullable(),
  Pid: z.number().int().default(0),
})
export type ExecInspect = z.infer<typeof execInspect>

const pathStat = z.object({
  name: z.string(),
  size: z.number(),
  mode: z.number(),
  linkTarget: z.string().default(''),
})

/** An image reference with a tag: without one Docker's pull API would fetch every tag of the repository. */
function withTag(ref: string): string {
  if (ref.includes('@')) return ref
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1)
  return lastPart.includes(':') ? ref : `${ref}:latest`
}

/** Docker's log stream as pieces: demultiplexed with the modem's helper, or raw as stdout when `demux` is null. */
function outputOf(source: Readable, demux: Modem | null, signal: AbortSignal): OutputStream {
  const output = new Readable({
    objectMode: true,
    highWaterMark: 16,
    read: () => {
      source.resume()
    },
    destroy: (err, callback) => {
      source.destroy()
      callback(err)
    },
  })
  const sink = (stream: OutputPiece['stream']): PieceSink => ({
    write(data) {
      // A reader that falls behind pauses Docker's stream until it reads again.
      if (!output.push({ stream, data } satisfies OutputPiece)) source.pause()
      return true
    },
  })
  if (demux) demux.demuxStream(source, sink('stdout'), sink('stderr'))
  else source.on('data', (data: Buffer) => sink('stdout').write(data))
  source.once('end', () => output.push(null))
  source.once('error', (err) => output.destroy(err))
  source.once('close', () => {
    if (!source.readableEnded) output.destroy()
  })
  const abort = () => output.destroy()
  if (signal.aborted) abort()
  signal.addEventListener('abort', abort, { once: true })
  output.once('close', () => signal.removeEventListener('abort', abort))
  return output
}

async function* eventsOf(source: Readable): AsyncGenerator<DockerEvent> {
  for await (const line of jsonLines(source)) {
    const event = dockerEvent.safeParse(line)
    if (event.success) yield event.data
  }
}

async function* progressOf(source: Readable): AsyncGenerator<BuildProgress> {
  for await (const line of jsonLines(source)) {
    const progress = buildProgress.safeParse(line)
    if (progress.success) yield progress.data
  }
}

/** Docker's newline-delimited JSON streams (events, pull and build progress), one value per line. */
async function* jsonLines(source: Readable): AsyncGenerator<unknown> {
  source.setEncoding('utf8')
  let rest = ''
  try {
    for await (const chunk of source) {
      rest += String(chunk)
      let newline = rest.indexOf('\n')
      while (newline !== -1) {
        const line = rest.slice(0, newline).trim()
        rest = rest.slice(newline + 1)
        if (line) yield parseJson(line)
        newline = rest.indexOf('\n')
      }
    }
    if (rest.trim()) yield parseJson(rest)
  } finally {
    source.destroy()
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

/** A request's query without the parameters left undefined. */
function definedQuery(request: Request): PlainRequest['query'] {
  return Object.fromEntries(
    Object.entries(request.query ?? {}).filter(([, v]) => v !== undefined),
  ) as PlainRequest['query']
}

/** The engine's address when it speaks plain HTTP (no TLS, no ssh); null otherwise. */
async function plainEndpoint(modem: Modem): Promise<PlainEndpoint | null> {
  if (modem.socketPath) {
    const socketPath = await modem.getSocketPath()
    return typeof socketPath === 'string' ? { socketPath } : null
  }
  if (modem.host && modem.protocol === 'http') {
    const port = Number(modem.port ?? 2375)
    return Number.isInteger(port) ? { host: modem.host, port } : null
  }
  return null
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
  if (err instanceof DockerError || (err instanceof Error && err.name === 'AbortError')) return err
  const failed = failure.safeParse(err)
  if (failed.success) {
    const body = failureBody.safeParse(failed.data.json)
    // A failed stream request carries Docker's message only in the modem's text: "(HTTP code 404) reason - message".
    const message = body.success
      ? body.data.message
      : failed.data.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim()
    return new DockerError(message, failed.data.statusCode)
  }
  return new DockerError(`cannot reach Docker at ${where}: ${messageOf(err)}`, null)
}
