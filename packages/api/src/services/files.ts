import type { ActorContext } from '../context.ts'
import type { AgentStream, StreamChunk } from '../hub/hub.ts'
import { assertMayReveal } from './auth.ts'
import { type ContainerRef, findContainer } from './containers.ts'
import { sendUpload } from './uploads.ts'

/** Unpacking an archive into a container waits on Docker writing every file of it. */
const PUT_TIMEOUT_MS = 300_000

export type ArchiveFormat = 'tar' | 'zip'

export interface PutFilesInput extends ContainerRef {
  /** An absolute directory in the container; made when missing. */
  path: string
  format: ArchiveFormat
  bytes: Uint8Array
}

/**
 * Unpacks a tar or zip into a directory of a container, running or stopped. The agent refuses
 * the whole archive, writing nothing, when any entry would land outside `path`.
 */
export async function putFiles(ctx: ActorContext, input: PutFilesInput) {
  const { serverId } = input
  const row = await findContainer(ctx, input)
  const uploadId = newUploadId()
  await sendUpload(ctx, { serverId, id: uploadId, bytes: input.bytes })
  const written = await ctx.hub.call(
    serverId,
    'files.put',
    {
      ref: row.dockerId,
      path: input.path,
      upload_id: uploadId,
      bytes: input.bytes.length,
      format: input.format,
    },
    { timeoutMs: PUT_TIMEOUT_MS },
  )
  return { container_id: row.id, files: { path: input.path, entries: written.entries, bytes: written.bytes } }
}

export interface FileDownload {
  /** The name of what is at the path. */
  name: string
  /** `raw` for a file, sent as is; a directory comes as a tar or a zip. */
  format: 'raw' | ArchiveFormat
  /** A file's size; null for an archive, whose size is known only once written. */
  size: number | null
  stream: AgentStream
}

/** Starts a download from a container: a file as is, anything else as a tar or zip of it. */
export async function openFileDownload(
  ctx: ActorContext,
  { serverId, ref, ...query }: ContainerRef & { path: string; format: ArchiveFormat },
): Promise<FileDownload> {
  const row = await findContainer(ctx, { serverId, ref })
  // A container's files hold what its masked env does, and more.
  assertMayReveal(ctx.actor, "reading a container's files")
  const stat = await ctx.hub.call(serverId, 'files.stat', { ref: row.dockerId, path: query.path })
  const format = stat.type === 'file' ? 'raw' : query.format
  const stream = await ctx.hub.open(serverId, 'files.get', { ref: row.dockerId, path: query.path, format })
  return { name: stat.name, format, size: format === 'raw' ? stat.size : null, stream }
}

/** The bytes a stream chunk carries. */
export function chunkBytes(chunk: StreamChunk): Uint8Array {
  if (chunk.encoding === 'utf8') return new TextEncoder().encode(chunk.data)
  const binary = atob(chunk.data)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** An id for an upload's file on the host: the agent takes `[a-z0-9_]`. */
function newUploadId(): string {
  const random = crypto.getRandomValues(new Uint8Array(12))
  return `upl_${Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('')}`
}
