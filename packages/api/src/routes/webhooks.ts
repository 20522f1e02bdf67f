import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { serviceContext } from '../middleware.ts'
import { type Provider, receiveWebhook } from '../services/webhooks.ts'

const HEADERS: Record<Provider, { event: string; delivery: string; signature: string }> = {
  github: { event: 'X-GitHub-Event', delivery: 'X-GitHub-Delivery', signature: 'X-Hub-Signature-256' },
  gitlab: { event: 'X-Gitlab-Event', delivery: 'X-Gitlab-Event-UUID', signature: 'X-Gitlab-Token' },
  gitea: { event: 'X-Gitea-Event', delivery: 'X-Gitea-Delivery', signature: 'X-Gitea-Signature' },
}

/** Receivers for git providers' push deliveries, mounted under /webhooks; signed, not bearer-authenticated. */
export const webhookRoutes = new Hono<AppEnv>().post('/:provider{github|gitlab|gitea}/:appId', async (c) => {
  const provider = c.req.param('provider') as Provider
  const names = HEADERS[provider]
  c.set('auditTarget', c.req.param('appId'))
  const outcome = await receiveWebhook(serviceContext(c), c.req.param('appId'), {
    provider,
    event: c.req.header(names.event) ?? null,
    deliveryId: c.req.header(names.delivery) ?? null,
    signature: c.req.header(names.signature) ?? null,
    body: new Uint8Array(await c.req.arrayBuffer()),
  })
  return c.json(outcome, outcome.status === 'success' ? 202 : 200)
})
