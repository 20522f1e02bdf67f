import {
  createAppBody,
  createDomainBody,
  createWebhookBody,
  queryFlag,
  rollbackBody,
  setEnvBody,
  statsHistoryQuery,
  updateAppBody,
} from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, optionalJsonBody, publicUrl, query, requireAuth } from '../middleware.ts'
import { getAppHealth, getAppStats } from '../services/app-health.ts'
import {
  createApp,
  deleteApp,
  deleteEnvKey,
  getApp,
  getDeployKey,
  listApps,
  listEnv,
  regenerateDeployKey,
  setEnv,
  updateApp,
} from '../services/apps.ts'
import { deployApp, rollback } from '../services/deployments/commands.ts'
import { listDeployments } from '../services/deployments/read.ts'
import { addDomain, listDomains, removeDomain } from '../services/domains.ts'
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
} from '../services/webhooks.ts'
import { deployRequest } from './deploy-request.ts'

const page = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})
const listQuery = page.extend({ server_id: z.string().max(64).optional() })
const revealQuery = z.object({ reveal: queryFlag.default(false) })
const deleteQuery = z.object({ volumes: queryFlag.default(false), force: queryFlag.default(false) })
const healthQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) })

const id = (c: Context<AppEnv>) => c.req.param('id') ?? ''

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
    c.json({ app: await updateApp(actorContext(c), { id: id(c), body: c.req.valid('json') }) }, 200),
  )
  .delete('/:id', requireAuth('write'), query(deleteQuery), async (c) => {
    await deleteApp(actorContext(c), { id: id(c), ...c.req.valid('query') })
    return c.body(null, 204)
  })

  .get('/:id/env', requireAuth('read'), query(revealQuery), async (c) =>
    c.json(await listEnv(actorContext(c), { id: id(c), reveal: c.req.valid('query').reveal }), 200),
  )
  .put('/:id/env', requireAuth('write'), jsonBody(setEnvBody), async (c) =>
    c.json(await setEnv(actorContext(c), { id: id(c), body: c.req.valid('json') }), 200),
  )
  .delete('/:id/env/:key', requireAuth('write'), async (c) => {
    await deleteEnvKey(actorContext(c), { id: id(c), key: c.req.param('key') })
    return c.body(null, 204)
  })

  .post('/:id/deploy', requireAuth('write'), async (c) => {
    const deployment = await deployApp(actorContext(c), { appId: id(c), ...(await deployRequest(c)) })
    c.set('auditTarget', deployment.id)
    return c.json({ deployment }, 202)
  })
  .get('/:id/deployments', requireAuth('read'), query(page), async (c) =>
    c.json(await listDeployments(actorContext(c), { appId: id(c), ...c.req.valid('query') }), 200),
  )
  .post('/:id/rollback', requireAuth('write'), optionalJsonBody(rollbackBody), async (c) => {
    const deployment = await rollback(actorContext(c), {
      appId: id(c),
      to: c.req.valid('json').deployment_id,
    })
    c.set('auditTarget', deployment.id)
    return c.json({ deployment }, 202)
  })

  .get('/:id/deploy-key', requireAuth('read'), async (c) =>
    c.json(await getDeployKey(actorContext(c), id(c)), 200),
  )
  .post('/:id/deploy-key', requireAuth('write'), async (c) =>
    c.json(await regenerateDeployKey(actorContext(c), id(c)), 201),
  )

  .get('/:id/domains', requireAuth('read'), async (c) =>
    c.json(await listDomains(actorContext(c), id(c)), 200),
  )
  .post('/:id/domains', requireAuth('write'), jsonBody(createDomainBody), async (c) => {
    const domain = await addDomain(actorContext(c), { appId: id(c), body: c.req.valid('json') })
    c.set('auditTarget', domain.id)
    return c.json({ domain }, 201)
  })
  .delete('/:id/domains/:did', requireAuth('write'), async (c) => {
    await removeDomain(actorContext(c), { appId: id(c), id: c.req.param('did') })
    return c.body(null, 204)
  })

  .get('/:id/webhooks', requireAuth('read'), async (c) =>
    c.json(await listWebhooks(actorContext(c), { appId: id(c), apiUrl: publicUrl(c) }), 200),
  )
  .post('/:id/webhooks', requireAuth('write'), jsonBody(createWebhookBody), async (c) => {
    const created = await createWebhook(actorContext(c), {
      appId: id(c),
      body: c.req.valid('json'),
      apiUrl: publicUrl(c),
    })
    c.set('auditTarget', created.webhook.id)
    return c.json(created, 201)
  })
  .get('/:id/webhooks/:wid', requireAuth('read'), async (c) =>
    c.json(
      await getWebhook(actorContext(c), { appId: id(c), id: c.req.param('wid'), apiUrl: publicUrl(c) }),
      200,
    ),
  )
  .delete('/:id/webhooks/:wid', requireAuth('write'), async (c) => {
    await deleteWebhook(actorContext(c), { appId: id(c), id: c.req.param('wid') })
    return c.body(null, 204)
  })
  .get('/:id/webhooks/:wid/deliveries', requireAuth('read'), query(page), async (c) =>
    c.json(
      await listDeliveries(actorContext(c), {
        appId: id(c),
        id: c.req.param('wid'),
        ...c.req.valid('query'),
      }),
      200,
    ),
  )

  .get('/:id/health', requireAuth('read'), query(healthQuery), async (c) =>
    c.json(await getAppHealth(actorContext(c), { appId: id(c), limit: c.req.valid('query').limit }), 200),
  )
  .get('/:id/stats', requireAuth('read'), query(statsHistoryQuery), async (c) =>
    c.json(await getAppStats(actorContext(c), { appId: id(c), since: c.req.valid('query').since }), 200),
  )
