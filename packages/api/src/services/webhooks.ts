import { newId } from '@berth/shared'
import { and, desc, eq, lt } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../context.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { webhookDeliveries, webhooks } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { hmacSha256Hex, seal, timingSafeEqual, toBase64Url, unseal } from '../lib/crypto.ts'
import { log } from '../lib/log.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { DAY_MS, iso } from '../lib/time.ts'
import { findApp } from './apps.ts'
import { createDeployment } from './deployments/commands.ts'

export type Provider = (typeof webhooks.$inferSelect)['provider']
type WebhookRow = typeof webhooks.$inferSelect

const secretContext = (id: string) => `webhook:${id}`

function toWebhookView(row: WebhookRow, apiUrl: string) {
  return {
    id: row.id,
    app_id: row.appId,
    provider: row.provider,
    url: `${apiUrl}/api/v1/webhooks/${row.provider}/${row.appId}`,
    branch: row.branch,
    created_at: iso(row.createdAt),
  }
}

/** Creates a receiver for pushes; the secret is shown in this answer only. */
export async function createWebhook(
  ctx: ActorContext,
  { appId, body, apiUrl }: { appId: string; body: { provider: Provider; branch?: string }; apiUrl: string },
) {
  await findApp(ctx, appId)
  const id = newId('webhook')
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)))
  const row: WebhookRow = {
    id,
    appId,
    provider: body.provider,
    secret: await seal(ctx.config.secretKey, secret, secretContext(id)),
    branch: body.branch ?? null,
    createdAt: ctx.clock.now(),
  }
  await ctx.db.insert(webhooks).values(row)
  return { webhook: { ...toWebhookView(row, apiUrl), secret } }
}

async function findWebhook(
  ctx: ServiceContext,
  { appId, id }: { appId: string; id: string },
): Promise<WebhookRow> {
  const [row] = await ctx.db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.id, id), eq(webhooks.appId, appId)))
    .limit(1)
  if (!row) throw notFound('webhook', id)
  return row
}

export async function listWebhooks(ctx: ActorContext, { appId, apiUrl }: { appId: string; apiUrl: string }) {
  await findApp(ctx, appId)
  const rows = await ctx.db.select().from(webhooks).where(eq(webhooks.appId, appId)).orderBy(webhooks.id)
  return { webhooks: rows.map((r) => toWebhookView(r, apiUrl)), next_cursor: null }
}

export async function getWebhook(
  ctx: ActorContext,
  { appId, id, apiUrl }: { appId: string; id: string; apiUrl: string },
) {
  return { webhook: toWebhookView(await findWebhook(ctx, { appId, id }), apiUrl) }
}

export async function deleteWebhook(
  ctx: ActorContext,
  { appId, id }: { appId: string; id: string },
): Promise<void> {
  await findWebhook(ctx, { appId, id })
  await ctx.db.delete(webhooks).where(eq(webhooks.id, id))
}

export async function listDeliveries(
  ctx: ActorContext,
  { appId, id, ...page }: { appId: string; id: string; cursor?: string; limit: number },
) {
  await findWebhook(ctx, { appId, id })
  const before = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, id), before ? lt(webhookDeliveries.id, before) : undefined))
    .orderBy(desc(webhookDeliveries.id))
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return {
    deliveries: items.map((d) => ({
      id: d.id,
      delivery_id: d.deliveryId,
      event: d.event,
      status: d.status,
      reason: d.reason,
      deployment_id: d.deploymentId,
      received_at: iso(d.receivedAt),
    })),
    next_cursor: nextCursor,
  }
}

/** Deletes deliveries older than the audit retention: a signed sender could otherwise grow them without end. */
export async function pruneDeliveries(ctx: ServiceContext): Promise<void> {
  await ctx.db
    .delete(webhookDeliveries)
    .where(lt(webhookDeliveries.receivedAt, ctx.clock.now() - ctx.config.auditRetentionDays * DAY_MS))
}

// ---------------------------------------------------------------- receivers

/** What a provider's request says, read from its headers. */
export interface Incoming {
  /** The app the receiver's URL names. */
  appId: string
  provider: Provider
  event: string | null
  deliveryId: string | null
  /** X-Hub-Signature-256 / X-Gitea-Signature, or X-Gitlab-Token. */
  signature: string | null
  body: Uint8Array
}

const unauthorized = () =>
  new ApiError('auth_error', 'the webhook signature does not match', { code: 'bad_signature' })

/** Checks a delivery against every webhook of the app for its provider, in constant time each. */
async function authenticate(ctx: ServiceContext, inc: Incoming): Promise<WebhookRow> {
  const { appId } = inc
  if (!inc.signature) throw unauthorized()
  const rows = await ctx.db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.appId, appId), eq(webhooks.provider, inc.provider)))
  let match: WebhookRow | undefined
  for (const row of rows) {
    const secret = await unseal(ctx.config.secretKey, row.secret, secretContext(row.id))
    let ok: boolean
    if (inc.provider === 'gitlab') ok = timingSafeEqual(inc.signature, secret)
    else {
      const expected = await hmacSha256Hex(secret, inc.body)
      const given = inc.signature.replace(/^sha256=/, '')
      ok = timingSafeEqual(given.toLowerCase(), expected)
    }
    if (ok && !match) match = row
  }
  if (!match) throw unauthorized()
  return match
}

interface Push {
  branch: string | null
  sha: string | null
}

function readPush(body: Uint8Array): Push {
  let payload: unknown
  try {
    payload = JSON.parse(new TextDecoder().decode(body))
  } catch {
    throw new ApiError('validation_error', 'the webhook body must be JSON', { code: 'malformed_request' })
  }
  const p = (payload ?? {}) as { ref?: unknown; after?: unknown; checkout_sha?: unknown }
  const ref = typeof p.ref === 'string' ? p.ref : null
  const sha =
    typeof p.checkout_sha === 'string' ? p.checkout_sha : typeof p.after === 'string' ? p.after : null
  return { branch: ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null, sha }
}

const COMMIT_SHA = /^[0-9a-f]{40}$/
/** Providers send a UUID; anything much longer is not one of theirs. */
const MAX_DELIVERY_ID = 200
/** The headers each provider sends its event, delivery id and signature (or token) in. */
export const PROVIDER_HEADERS: Record<Provider, { event: string; delivery: string; signature: string }> = {
  github: { event: 'X-GitHub-Event', delivery: 'X-GitHub-Delivery', signature: 'X-Hub-Signature-256' },
  gitlab: { event: 'X-Gitlab-Event', delivery: 'X-Gitlab-Event-UUID', signature: 'X-Gitlab-Token' },
  gitea: { event: 'X-Gitea-Event', delivery: 'X-Gitea-Delivery', signature: 'X-Gitea-Signature' },
}

const PUSH_EVENTS: Record<Provider, string[]> = {
  github: ['push'],
  gitea: ['push'],
  gitlab: ['Push Hook'],
}
const PING_EVENTS: Record<Provider, string[]> = {
  github: ['ping'],
  gitea: [],
  gitlab: ['System Hook'],
}

/**
 * Takes a provider's delivery: checks its signature, answers pings, and deploys a push to the
 * app's branch at the pushed commit. A delivery id seen before is answered with what was done then.
 */
export async function receiveWebhook(ctx: ServiceContext, inc: Incoming) {
  const { appId } = inc
  const app = await findApp(ctx, appId).catch(() => {
    // An unknown app looks like a bad signature: the receiver says nothing about which apps exist.
    throw unauthorized()
  })
  const hook = await authenticate(ctx, inc)
  const event = inc.event ?? 'unknown'
  if (PING_EVENTS[inc.provider].includes(event)) return { status: 'pong' as const }
  // A body that is not JSON is refused before anything is recorded.
  const push = PUSH_EVENTS[inc.provider].includes(event) ? readPush(inc.body) : null
  // Without the provider's id a resent delivery could not be told from a new one.
  const deliveryId = inc.deliveryId?.trim()
  if (!deliveryId || deliveryId.length > MAX_DELIVERY_ID) {
    const header = PROVIDER_HEADERS[inc.provider].delivery
    throw new ApiError(
      'validation_error',
      `the ${header} header is required, at most ${MAX_DELIVERY_ID} characters`,
      {
        code: 'missing_delivery_id',
      },
    )
  }
  const [seen] = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, hook.id), eq(webhookDeliveries.deliveryId, deliveryId)))
    .limit(1)
  if (seen) return { status: seen.status, deployment_id: seen.deploymentId, duplicate: true }

  const id = newId('delivery')
  let status: 'success' | 'failed' | 'skipped' = 'skipped'
  let reason: string | null = null
  let deploymentId: string | null = null
  // The delivery is recorded before acting, so a concurrent resend of it finds it and does nothing.
  try {
    await ctx.db.insert(webhookDeliveries).values({
      id,
      webhookId: hook.id,
      deliveryId,
      event,
      status: 'skipped',
      reason: 'in progress',
      receivedAt: ctx.clock.now(),
    })
  } catch (err) {
    if (isUniqueViolation(err)) return { status: 'skipped' as const, duplicate: true }
    throw err
  }
  const branch = hook.branch ?? (app.source.type === 'git' ? app.source.branch : null)
  if (!push) reason = `${event} events do not deploy`
  else if (!app.autoDeploy) reason = 'auto_deploy is off for this app'
  else if (app.source.type !== 'git') reason = 'only git apps deploy on push'
  else {
    // A deleted branch is pushed as the all-zero commit.
    const sha = push.sha && COMMIT_SHA.test(push.sha) && !/^0+$/.test(push.sha) ? push.sha : null
    if (push.branch !== branch) reason = `push to ${push.branch ?? 'a tag'}, not ${branch}`
    else if (!sha) reason = 'the push names no commit to deploy'
    else {
      try {
        // A signed push resent under a new delivery id names a commit already here or on its way.
        const deployment = await createDeployment(ctx, {
          app,
          trigger: 'webhook',
          createdBy: null,
          ref: sha,
          onlyNewCommit: true,
        })
        status = 'success'
        deploymentId = deployment.id
      } catch (err) {
        const replay = err instanceof ApiError && err.code === 'commit_already_deployed'
        status = replay ? 'skipped' : 'failed'
        reason = err instanceof ApiError ? err.message : 'the deployment could not be queued'
        if (!(err instanceof ApiError)) log.error(`webhook delivery ${id} failed`, err)
      }
    }
  }
  await ctx.db
    .update(webhookDeliveries)
    .set({ status, reason, deploymentId })
    .where(eq(webhookDeliveries.id, id))
  return { status, reason, deployment_id: deploymentId }
}
