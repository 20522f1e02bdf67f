import {
  createAppBody,
  createWebhookBody,
  deployBody,
  queryFlag,
  rollbackBody,
  setEnvBody,
  statsHistoryQuery,
  updateAppBody,
} from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'
import {
  actorContext,
  jsonBody,
  optionalJsonBody,
  publicUrl,
  query,
  requireAuth,
  validationError,
} from '../middleware.ts'
import { getAppHealth, getAppStats } from '../services/app-health.ts'
import {
  createApp,
  deleteApp,
  deleteEnvKey,
  findApp,
  getApp,
  getDeployKey,
  listApps,
  listEnv,
  regenerateDeployKey,
  setEnv,
  updateApp,
} from '../services/apps.ts'
import { createDeployment, rollback } from '../services/deployments/commands.ts'
import { listDeployments } from '../services/deployments/read.ts'
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
} from '../services/webhooks.ts'

const page = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})
const listQuery = page.extend({ server_id: z.string().max(64).optional() })
const revealQuery = z.object({ reveal: queryFlag.default(false) })
const deleteQuery = z.object({ volumes: queryFlag.default(false), force: queryFlag.default(false) })
const healthQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) })

const id = (c: Context<AppEnv>) => c.req.param('id') ?? ''

/** Content types a tarball upload may come with. */
const TARBALL = /^application\/(gzip|x-gzip|x-tar|x-gtar|octet-stream)\b/i

/** App routes, mounted under /apps. */
export const appRoutes = new Hono<AppEnv>()
  .get('/', requireAuth('read'), query(listQuery), async (c) =>
    c.json(await listApps(actorContext(c), c.req.valid('query')), 200),
  )
  .post('/', requireAuth('write'), jsonBody(createAppBody), async (c) => {
    const app = await createApp(actorContext(c), c.req.valid('json'))
    c.set('auditTarget', app.id)
    return c.json({ app }, 201)
  })
  .get('/:id', requireAuth('read'), async (c) => c.json({ app: await getApp(actorContext(c), id(c)) }, 200))
  .patch('/:id', requireAuth('write'), jsonBody(updateAppBody), async (c) =>
    c.json({ app: await updateApp(actorContext(c), id(c), c.req.valid('json')) }, 200),
  )
  .delete('/:id', requireAuth('write'), query(deleteQuery), async (c) => {
    await deleteApp(actorContext(c), id(c), c.req.valid('query'))
    return c.body(null, 204)
  })

  .get('/:id/env', requireAuth('read'), query(revealQuery), async (c) =>
    c.json(await listEnv(actorContext(c), id(c), c.req.valid('query').reveal), 200),
  )
  .put('/:id/env', requireAuth('write'), jsonBody(setEnvBody), async (c) =>
    c.json(await setEnv(actorContext(c), id(c), c.req.valid('json')), 200),
  )
  .delete('/:id/env/:key', requireAuth('write'), async (c) => {
    await deleteEnvKey(actorContext(c), id(c), c.req.param('key'))
    return c.body(null, 204)
  })

  .post('/:id/deploy', requireAuth('write'), async (c) => {
    const ctx = actorContext(c)
    const app = await findApp(ctx, id(c))
    const upload = await readUpload(c)
    const body = upload ? {} : await deployOptions(c)
    const deployment = await createDeployment(ctx, app, {
      trigger: 'manual',
      createdBy: ctx.actor.userId,
      ...body,
      ...(upload ? { upload } : {}),
    })
    c.set('auditTarget', deployment.id)
    return c.json({ deployment }, 202)
  })
  .get('/:id/deployments', requireAuth('read'), query(page), async (c) =>
    c.json(await listDeployments(actorContext(c), id(c), c.req.valid('query')), 200),
  )
  .post('/:id/rollback', requireAuth('write'), optionalJsonBody(rollbackBody), async (c) => {
    const deployment = await rollback(actorContext(c), id(c), c.req.valid('json').deployment_id)
    c.set('auditTarget', deployment.id)
    return c.json({ deployment }, 202)
  })

  .get('/:id/deploy-key', requireAuth('read'), async (c) =>
    c.json(await getDeployKey(actorContext(c), id(c)), 200),
  )
  .post('/:id/deploy-key', requireAuth('write'), async (c) =>
    c.json(await regenerateDeployKey(actorContext(c), id(c)), 201),
  )

  .get('/:id/webhooks', requireAuth('read'), async (c) =>
    c.json(await listWebhooks(actorContext(c), id(c), publicUrl(c)), 200),
  )
  .post('/:id/webhooks', requireAuth('write'), jsonBody(createWebhookBody), async (c) => {
    const created = await createWebhook(actorContext(c), id(c), c.req.valid('json'), publicUrl(c))
    c.set('auditTarget', created.webhook.id)
    return c.json(created, 201)
  })
  .get('/:id/webhooks/:wid', requireAuth('read'), async (c) =>
    c.json(await getWebhook(actorContext(c), id(c), c.req.param('wid'), publicUrl(c)), 200),
  )
  .delete('/:id/webhooks/:wid', requireAuth('write'), async (c) => {
    await deleteWebhook(actorContext(c), id(c), c.req.param('wid'))
    return c.body(null, 204)
  })
  .get('/:id/webhooks/:wid/deliveries', requireAuth('read'), query(page), async (c) =>
    c.json(await listDeliveries(actorContext(c), id(c), c.req.param('wid'), c.req.valid('query')), 200),
  )

  .get('/:id/health', requireAuth('read'), query(healthQuery), async (c) =>
    c.json(await getAppHealth(actorContext(c), id(c), c.req.valid('query').limit), 200),
  )
  .get('/:id/stats', requireAuth('read'), query(statsHistoryQuery), async (c) =>
    c.json(await getAppStats(actorContext(c), id(c), c.req.valid('query').since), 200),
  )

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

async function deployOptions(c: Context<AppEnv>) {
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
