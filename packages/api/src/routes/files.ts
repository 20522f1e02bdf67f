import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'
import { actorContext, query, requireAuth } from '../middleware.ts'
import { type ArchiveFormat, chunkBytes, openFileDownload, putFiles } from '../services/files.ts'

const containerPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((path) => path.startsWith('/'), 'must be an absolute path')
  .refine((path) => !path.includes('\0'), 'must not hold a NUL byte')
const putQuery = z.object({ path: containerPath })
const getQuery = z.object({ path: containerPath, format: z.enum(['tar', 'zip']).default('tar') })

const ARCHIVE_TYPES: Record<string, ArchiveFormat> = {
  'application/x-tar': 'tar',
  'application/tar': 'tar',
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
}

const CONTENT_TYPES = { raw: 'application/octet-stream', tar: 'application/x-tar', zip: 'application/zip' }

const params = (c: Context<AppEnv>) => [c.req.param('sid') ?? '', c.req.param('cid') ?? ''] as const

/** Files in a container, mounted under /servers/:sid/containers: `/:cid/files`. */
export const fileRoutes = new Hono<AppEnv>()
  .post('/:cid/files', requireAuth('write'), query(putQuery), async (c) => {
    const [sid, cid] = params(c)
    const format = ARCHIVE_TYPES[(c.req.header('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase()]
    if (!format) {
      throw new ApiError(
        'validation_error',
        'the body must be a tar (application/x-tar) or a zip (application/zip)',
        {
          code: 'unsupported_content_type',
        },
      )
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer())
    const limit = c.get('deps').config.maxUploadBytes
    if (bytes.length > limit) {
      throw new ApiError('payload_too_large', `the upload is larger than ${limit} bytes`, {
        details: { max_bytes: limit },
      })
    }
    if (bytes.length === 0) {
      throw new ApiError('validation_error', `the uploaded ${format} is empty`, {
        details: [{ path: 'body', message: 'empty' }],
      })
    }
    const put = await putFiles(actorContext(c), {
      serverId: sid,
      ref: cid,
      path: c.req.valid('query').path,
      format,
      bytes,
    })
    c.set('auditTarget', put.container_id)
    return c.json({ files: put.files }, 201)
  })
  .get('/:cid/files', requireAuth('read'), query(getQuery), async (c) => {
    const [sid, cid] = params(c)
    const download = await openFileDownload(actorContext(c), {
      serverId: sid,
      ref: cid,
      ...c.req.valid('query'),
    })
    const chunks = download.stream[Symbol.asyncIterator]()
    // The first piece is awaited before answering, so a download that fails at once is a plain error.
    const first = await chunks.next()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first.done) controller.close()
        else controller.enqueue(chunkBytes(first.value))
      },
      async pull(controller) {
        const next = await chunks.next()
        if (next.done) controller.close()
        else controller.enqueue(chunkBytes(next.value))
      },
      cancel() {
        download.stream.cancel()
      },
    })
    const filename =
      download.format === 'raw' ? download.name : `${archiveName(download.name)}.${download.format}`
    const headers: Record<string, string> = {
      'Content-Type': CONTENT_TYPES[download.format],
      'Content-Disposition': contentDisposition(filename),
    }
    if (download.size === null) return c.body(body, 200, headers)
    headers['Content-Length'] = String(download.size)
    return c.body(c.get('deps').sizedBody(body, download.size), 200, headers)
  })

function archiveName(name: string): string {
  const base = name.replace(/^\/+|\/+$/g, '')
  return base === '' ? 'root' : base
}

/** An attachment header with an ASCII fallback name and the UTF-8 name (RFC 6266). */
function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}
