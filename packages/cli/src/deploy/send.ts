import { type BerthClient, request } from '@berth/client'
import type { CommandContext } from '../command.ts'
import { bytes, duration, StatusLine } from '../live.ts'
import { packFolder } from './pack.ts'

const CHUNK = 64 * 1024

/** A deployment as POST /apps/:id/deploy answers it (a route that reads its body itself, so untyped). */
export interface QueuedDeployment {
  id: string
  state: string
}

/** Queues a deploy of an app with JSON options (`ref`, `image`). */
export async function deployWithOptions(
  ctx: CommandContext,
  client: BerthClient,
  input: { appId: string; options: { ref?: string; image?: string } },
): Promise<QueuedDeployment> {
  return queued(
    await request(client, `/apps/${input.appId}/deploy`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(input.options),
      signal: ctx.signal,
    }),
  )
}

const queued = async (res: Response) => ((await res.json()) as { deployment: QueuedDeployment }).deployment

/**
 * Deploys an upload app from a folder: packed as a .tar.gz (as .dockerignore says) and sent with
 * its bytes counted as they go, on a redrawn line on a TTY or as two plain lines elsewhere.
 */
export async function deployFolder(
  ctx: CommandContext,
  client: BerthClient,
  input: { appId: string; dir: string },
) {
  const packed = await packFolder(input.dir)
  const total = packed.bytes.length
  const status = ctx.json ? undefined : new StatusLine(ctx.stderr)
  status?.print(`packed ${input.dir}: ${packed.entries} entries, ${bytes(total)}`)
  const started = Date.now()
  let sent = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close()
      const chunk = packed.bytes.subarray(sent, sent + CHUNK)
      sent += chunk.length
      if (status?.tty) status.set(`uploading ${bytes(sent)} / ${bytes(total)}`)
      controller.enqueue(chunk)
    },
  })
  const res = await request(client, `/apps/${input.appId}/deploy`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/gzip' },
    body,
    signal: ctx.signal,
    // Node's fetch sends a stream body only as a half-duplex request.
    duplex: 'half',
  } as RequestInit)
  status?.clear()
  status?.print(`uploaded ${bytes(total)} in ${duration(Date.now() - started)}`)
  return queued(res)
}
