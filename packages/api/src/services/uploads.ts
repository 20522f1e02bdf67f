import type { ServiceContext } from '../context.ts'

/** Bytes of an upload per `upload.chunk` call (base64 on the wire). */
const UPLOAD_CHUNK = 512 * 1024

/** Hands an upload's bytes to a server's agent, which keeps them in a file named for `id`. */
export async function sendUpload(
  ctx: ServiceContext,
  serverId: string,
  id: string,
  bytes: Uint8Array,
): Promise<void> {
  for (let offset = 0; offset < bytes.length || offset === 0; offset += UPLOAD_CHUNK) {
    const part = bytes.subarray(offset, offset + UPLOAD_CHUNK)
    await ctx.hub.call(serverId, 'upload.chunk', { upload_id: id, offset, data: toBase64(part) })
    if (bytes.length === 0) break
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}
