import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { serviceContext } from '../middleware.ts'
import { PROVIDER_HEADERS, type Provider, receiveWebhook } from '../services/webhooks.ts'

/** Receivers for git providers' push deliveries, mounted under /webhooks; signed, not bearer-authenticated. */
export const webhookRoutes = new Hono<AppEnv>().post('/:provider{github|gitlab|gitea}/:appId', async (c) => {
  const provider = c.req.param('provider') as Provider
  const names = PROVIDER_HEADERS[provider]
  c.set('auditTarget', c.req.param('appId'))
  const outcome = await receiveWebhook(serviceContext(c), {
    appId: c.req.param('appId'),
    provider,
    event: c.req.header(names.event) ?? null,
    deliveryId: c.req.header(names.delivery) ?? null,
    signature: c.req.header(names.signature) ?? null,
    body: new Uint8Array(await c.req.arrayBuffer()),
  })
  return c.json(outcome, outcome.status === 'success' ? 202 : 200)
})
