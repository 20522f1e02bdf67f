import type { Socket } from 'node:net'
import { z } from 'zod'
import { type ContainerClient, containerClient } from './containers.ts'
import { type ExecClient, execClient } from './exec.ts'
import { type ImageClient, imageClient } from './images.ts'
import { type NetworkClient, networkClient } from './networks.ts'
import { openTransport, type Transport } from './transport.ts'
import { type VolumeClient, volumeClient } from './volumes.ts'

export type { ContainerClient, ContainerLimits, ContainerSpec, LogOptions, PathStat } from './containers.ts'
export type { ExecAttachment, ExecClient, ExecSpec, TtySize } from './exec.ts'
export type { BuildOptions, ImageClient } from './images.ts'
export type { ContainerInspect, PortMappings } from './inspect.ts'
export type { NetworkClient, NetworkSpec } from './networks.ts'
export type * from './replies.ts'
export type { OutputPiece, OutputStream } from './streams.ts'
export { DEFAULT_DOCKER_SOCKET, DockerError, engineOptions } from './transport.ts'
export type { VolumeClient } from './volumes.ts'

/** The engine itself: whether it answers, its version and its counts. */
export interface EngineClient {
  /** Where the engine is reached: a socket path or a tcp:// address. */
  readonly address: string
  ping(signal?: AbortSignal): Promise<void>
  /** The engine's version, e.g. `27.3.1`. */
  version(signal?: AbortSignal): Promise<string>
  info(signal?: AbortSignal): Promise<DockerInfo>
  /** A raw connection to the engine's API, for a client's own requests (the Docker tunnel). */
  dial(signal: AbortSignal): Promise<Socket>
}

export interface DockerInfo {
  containers: number
  running: number
  images: number
  /** Where the engine keeps its data, e.g. `/var/lib/docker`. */
  rootDir: string | null
}

/**
 * What the agent needs from the host's Docker Engine: one client per area over one transport. The
 * clients' methods keep their own names on the one object, so a caller that needs one area can
 * ask for that client's type alone. Replies keep Docker's field names; ops map them.
 */
export type Docker = EngineClient & ContainerClient & ImageClient & VolumeClient & NetworkClient & ExecClient

/**
 * Docker at `address` (a unix socket path, `unix://…`, `tcp://host:port`, `http(s)://host:port`);
 * without one, DOCKER_HOST as the Docker CLI reads it, else /var/run/docker.sock.
 */
export function connectDocker(address?: string): Docker {
  const transport = openTransport(address)
  return {
    ...engineClient(transport),
    ...containerClient(transport),
    ...imageClient(transport),
    ...volumeClient(transport),
    ...networkClient(transport),
    ...execClient(transport),
  }
}

const versionReply = z.object({ Version: z.string() })
const infoReply = z.object({
  Containers: z.number().int(),
  ContainersRunning: z.number().int(),
  Images: z.number().int(),
  DockerRootDir: z.string().optional(),
})

function engineClient({ where, send, act, dial }: Transport): EngineClient {
  return {
    address: where,
    dial,
    ping: (signal) => act({ method: 'GET', path: '/_ping', signal }),
    async version(signal) {
      return (await send({ method: 'GET', path: '/version', signal }, versionReply)).Version
    },
    async info(signal) {
      const reply = await send({ method: 'GET', path: '/info', signal }, infoReply)
      return {
        containers: reply.Containers,
        running: reply.ContainersRunning,
        images: reply.Images,
        rootDir: reply.DockerRootDir ?? null,
      }
    },
  }
}
