import type { Readable } from 'node:stream'
import { z } from 'zod'
import {
  type BuildProgress,
  buildProgress,
  type ImageInspect,
  type ImageListing,
  type ImagePrune,
  type ImageRemoval,
  imageInspect,
  imageListing,
  imagePrune,
  imageRemoval,
  pullProgress,
} from './replies.ts'
import { jsonLines } from './streams.ts'
import { DockerError, type Request, type Transport } from './transport.ts'

/** Images: listed, pulled, imported, built and removed. */
export interface ImageClient {
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
}

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

const image = (ref: string) => `/images/${encodeURI(ref)}`

export function imageClient(docker: Transport): ImageClient {
  const { send, open } = docker

  /** Follows a pull or an import to its end: Docker answers 200 at once and reports a failure inside the stream. */
  async function followCreate(query: Request['query'], file: Readable | undefined, signal?: AbortSignal) {
    const { body } = await open({ method: 'POST', path: '/images/create', query, file, signal })
    for await (const line of jsonLines(body)) {
      const progress = pullProgress.safeParse(line)
      if (progress.success && progress.data.error) {
        throw new DockerError(progress.data.errorDetail?.message ?? progress.data.error, 500)
      }
    }
  }

  return {
    listImages: (signal) => send({ method: 'GET', path: '/images/json', signal }, z.array(imageListing)),
    inspectImage: (ref, signal) => send({ method: 'GET', path: `${image(ref)}/json`, signal }, imageInspect),
    pullImage: (ref, signal) => followCreate({ fromImage: withTag(ref) }, undefined, signal),
    importImage(ref, tar, signal) {
      const [repo, tag] = withTag(ref).split(/:(?=[^:/]+$)/)
      return followCreate({ fromSrc: '-', repo, tag }, tar, signal)
    },
    async buildImage(context, options, signal) {
      const query = { ...options }
      const { body } = await open({ method: 'POST', path: '/build', query, file: context, signal })
      return progressOf(body)
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
  }
}

/** An image reference with a tag: without one Docker's pull API would fetch every tag of the repository. */
function withTag(ref: string): string {
  if (ref.includes('@')) return ref
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1)
  return lastPart.includes(':') ? ref : `${ref}:latest`
}

async function* progressOf(source: Readable): AsyncGenerator<BuildProgress> {
  for await (const line of jsonLines(source)) {
    const progress = buildProgress.safeParse(line)
    if (progress.success) yield progress.data
  }
}
