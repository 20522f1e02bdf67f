import type { Readable } from 'node:stream'
import { z } from 'zod'
import { type ContainerInspect, containerInspect } from './inspect.ts'
import {
  type ContainerListing,
  containerListing,
  createdReply,
  type DockerEvent,
  dockerEvent,
  pathStat,
  type StatsReading,
  statsReading,
} from './replies.ts'
import { jsonLines, type OutputStream, outputOf, parseJson } from './streams.ts'
import { DockerError, type Transport } from './transport.ts'

/** Containers: their lifecycle, log, counters, events, and the files in them. */
export interface ContainerClient {
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
  /**
   * A container's log as stdout and stderr pieces (a TTY container's raw output as stdout). Reading it
   * slowly pauses Docker's stream; destroying it or aborting `signal` closes Docker's stream.
   */
  containerLogs(ref: string, options: LogOptions, signal: AbortSignal): Promise<OutputStream>
  /** One reading of a container's counters, without Docker's one-second wait for a second reading. */
  containerStats(ref: string, signal?: AbortSignal): Promise<StatsReading>
  /** Docker's container events from now on, once the stream is open; ends when Docker closes it or `signal` aborts. */
  containerEvents(signal: AbortSignal): Promise<AsyncIterable<DockerEvent>>

  /** What is at `path` in a container, running or stopped (Docker's archive stat); null when nothing is. */
  statPath(ref: string, path: string, signal?: AbortSignal): Promise<PathStat | null>
  /** A tar of what is at `path` in a container, as Docker's archive API makes it. */
  getArchive(ref: string, path: string, signal: AbortSignal): Promise<Readable>
  /** Unpacks a tar into the directory `path` of a container, which must exist. */
  putArchive(ref: string, path: string, tar: Readable, signal?: AbortSignal): Promise<void>
}

/** Docker's stat of a path in a container; `mode` is Go's os.FileMode. */
export interface PathStat {
  name: string
  size: number
  mode: number
  /** Where a symlink leads, resolved inside the container. */
  linkTarget: string
}

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

const container = (ref: string) => `/containers/${encodeURIComponent(ref)}`

export function containerClient(docker: Transport): ContainerClient {
  const { send, act, open } = docker
  return {
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
    async containerLogs(ref, options, signal) {
      const { body } = await open({
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
      return outputOf(body, options.tty ? null : docker.demux, signal)
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
      const query = { filters: { type: ['container'] } }
      const { body } = await open({ method: 'GET', path: '/events', query, signal })
      return eventsOf(body)
    },

    async statPath(ref, path, signal) {
      let reply: Awaited<ReturnType<Transport['open']>>
      try {
        reply = await open({ method: 'HEAD', path: `${container(ref)}/archive`, query: { path }, signal })
      } catch (err) {
        // The container was found before; a 404 here is the path.
        if (err instanceof DockerError && err.status === 404) return null
        throw err
      }
      reply.body.resume()
      const header = reply.headers['x-docker-container-path-stat']
      const parsed = pathStat.safeParse(
        typeof header === 'string' ? parseJson(Buffer.from(header, 'base64').toString('utf8')) : null,
      )
      if (!parsed.success) throw new DockerError(`Docker at ${docker.where} sent no stat of ${path}`, null)
      return parsed.data
    },
    async getArchive(ref, path, signal) {
      const { body } = await open({
        method: 'GET',
        path: `${container(ref)}/archive`,
        query: { path },
        signal,
      })
      return body
    },
    putArchive: (ref, path, tar, signal) =>
      act({ method: 'PUT', path: `${container(ref)}/archive`, query: { path }, file: tar, signal }),
  }
}

async function* eventsOf(source: Readable): AsyncGenerator<DockerEvent> {
  for await (const line of jsonLines(source)) {
    const event = dockerEvent.safeParse(line)
    if (event.success) yield event.data
  }
}
