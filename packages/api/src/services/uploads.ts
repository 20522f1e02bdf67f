import type { ServiceContext } from '../context.ts'
import { toBase64 } from '../lib/crypto.ts'

/** Bytes of an upload per `upload.chunk` call (base64 on the wire). */
const UPLOAD_CHUNK = 512 * 1024

/** Hands an upload's bytes to a server's agent, which keeps them in a file named for `id`. */
export async function sendUpload(
  ctx: ServiceContext,
  { serverId, id, bytes }: { serverId: string; id: string; bytes: Uint8Array },
): Promise<void> {
  // At least one call, so even an empty upload exists on the host as a file.
  let offset = 0
  do {
    const data = toBase64(bytes.subarray(offset, offset + UPLOAD_CHUNK))
    await ctx.hub.call(serverId, 'upload.chunk', { upload_id: id, offset, data })
    offset += UPLOAD_CHUNK
  } while (offset < bytes.length)
}
