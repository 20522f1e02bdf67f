import { type DeployBody, deployBody } from '@berth/shared'
import type { Context } from 'hono'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'
import { validationError } from '../middleware.ts'

/** Content types a tarball upload may come with. */
const TARBALL = /^application\/(gzip|x-gzip|x-tar|x-gtar|octet-stream)\b/i

/**
 * The body of a deploy: a tarball (for an upload app), or JSON options (`ref`, `image`), or
 * nothing. A clear 4xx for anything else, before anything is queued.
 */
export async function deployRequest(c: Context<AppEnv>): Promise<DeployBody & { upload?: Uint8Array }> {
  const upload = await readUpload(c)
  return upload ? { upload } : deployOptions(c)
}

/**
 * The tarball of an upload deploy: the body itself (application/gzip …) or the `file` field of a
 * multipart form (CapRover's `sourceFile` too). Null for a JSON (or empty) body.
 */
async function readUpload(c: Context<AppEnv>): Promise<Uint8Array | null> {
  const type = c.req.header('Content-Type') ?? ''
  const limit = c.get('deps').config.maxUploadBytes
  const tooLarge = () =>
    new ApiError('payload_too_large', `the upload is larger than ${limit} bytes`, {
      details: { max_bytes: limit },
    })
  if (TARBALL.test(type)) {
    const bytes = new Uint8Array(await c.req.arrayBuffer())
    if (bytes.length > limit) throw tooLarge()
    if (bytes.length === 0) throw emptyUpload()
    return bytes
  }
  if (/^multipart\/form-data\b/i.test(type)) {
    let form: FormData
    try {
      form = await c.req.formData()
    } catch {
      throw new ApiError('validation_error', 'the multipart body could not be read', {
        code: 'malformed_request',
      })
    }
    const file = form.get('file') ?? form.get('sourceFile')
    if (!file || typeof file === 'string') {
      throw new ApiError('validation_error', 'the form needs a tar.gz in its "file" field', {
        details: [{ path: 'file', message: 'a tar.gz file' }],
      })
    }
    if (file.size > limit) throw tooLarge()
    if (file.size === 0) throw emptyUpload()
    return new Uint8Array(await file.arrayBuffer())
  }
  return null
}

const emptyUpload = () =>
  new ApiError('validation_error', 'the uploaded tarball is empty', {
    details: [{ path: 'file', message: 'empty' }],
  })

async function deployOptions(c: Context<AppEnv>): Promise<DeployBody> {
  const type = c.req.header('Content-Type')
  const length = c.req.header('Content-Length')
  let raw: unknown = {}
  if (type || (length && length !== '0')) {
    if (!/^application\/json\b/i.test(type ?? '')) {
      throw new ApiError(
        'validation_error',
        'the body must be JSON, a tar.gz, or a multipart form with a tar.gz',
        {
          code: 'unsupported_content_type',
        },
      )
    }
    const text = await c.req.text()
    try {
      raw = text.trim() ? JSON.parse(text) : {}
    } catch {
      throw new ApiError('validation_error', 'the body is not valid JSON', { code: 'malformed_request' })
    }
  }
  const parsed = deployBody.safeParse(raw)
  if (!parsed.success) throw validationError(parsed.error, 'request body')
  return parsed.data
}
