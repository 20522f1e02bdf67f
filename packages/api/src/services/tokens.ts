import type { ApiToken, createTokenBody } from '@berth/shared'
import { newId } from '@berth/shared'
import { and, desc, eq, inArray, lt } from 'drizzle-orm'
import type { z } from 'zod'
import type { ActorContext } from '../context.ts'
import { apiTokens, servers } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { newSecretToken, sha256Hex } from '../lib/crypto.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { DAY_MS, iso, isoOrNull } from '../lib/time.ts'
import { actorLevel, isLevel, levelAtLeast, maxScope, roleLevel } from './auth.ts'
import { recheckClients } from './clients.ts'
import { assertMayGrantDocker } from './docker-access.ts'

type TokenRow = typeof apiTokens.$inferSelect

function toTokenView(row: TokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    docker_servers: row.dockerServers,
    prefix: row.prefix,
    expires_at: isoOrNull(row.expiresAt),
    last_used_at: isoOrNull(row.lastUsedAt),
    created_at: iso(row.createdAt),
  }
}

/**
 * Creates an API token for the acting user; its value is returned here once and only its hash
 * is kept. A token never grants more than its creator may do, nor outlives a token that made it.
 */
export async function createToken(
  ctx: ActorContext,
  input: z.infer<typeof createTokenBody>,
): Promise<{ token: ApiToken; value: string }> {
  const { actor } = ctx
  const scopes = [...new Set(input.scopes)]
  const dockerServers = [...new Set(input.docker_servers ?? [])]
  const over = scopes.filter(isLevel).filter((s) => !levelAtLeast(actorLevel(actor), s))
  if (over.length > 0) {
    const byRole = !levelAtLeast(roleLevel(actor.role), maxScope(over))
    throw new ApiError(
      'forbidden',
      byRole
        ? `the ${actor.role} role cannot grant ${over.join(', ')}`
        : `this token cannot grant ${over.join(', ')}`,
      { code: byRole ? 'scope_exceeds_role' : 'scope_exceeds_token', details: { scopes: over } },
    )
  }
  if (scopes.includes('docker')) {
    assertMayGrantDocker(actor, dockerServers)
    await assertServersExist(ctx, dockerServers)
  }
  const now = ctx.clock.now()
  const expiresAt = input.expires_in_days ? now + input.expires_in_days * DAY_MS : null
  if (
    actor.type === 'token' &&
    actor.expiresAt !== null &&
    (expiresAt === null || expiresAt > actor.expiresAt)
  ) {
    throw new ApiError(
      'forbidden',
      `this token expires at ${iso(actor.expiresAt)}; a token it makes must expire by then`,
      {
        code: 'expiry_exceeds_token',
        details: { expires_at: iso(actor.expiresAt) },
      },
    )
  }
  const value = newSecretToken('berth_pat')
  const row: TokenRow = {
    id: newId('token', now),
    userId: ctx.actor.userId,
    name: input.name,
    tokenHash: await sha256Hex(value),
    prefix: value.slice(0, 14),
    scopes,
    dockerServers,
    expiresAt,
    lastUsedAt: null,
    createdAt: now,
  }
  await ctx.db.insert(apiTokens).values(row)
  return { token: toTokenView(row), value }
}

async function assertServersExist(ctx: ActorContext, ids: string[]): Promise<void> {
  const found = await ctx.db.select({ id: servers.id }).from(servers).where(inArray(servers.id, ids))
  const unknown = ids.filter((id) => !found.some((s) => s.id === id))
  if (unknown.length === 0) return
  throw new ApiError('validation_error', 'the request body is not valid', {
    details: unknown.map((id) => ({ path: 'docker_servers', message: `there is no server ${id}` })),
  })
}

export async function listTokens(ctx: ActorContext, page: { cursor?: string; limit: number }) {
  const before = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.userId, ctx.actor.userId), before ? lt(apiTokens.id, before) : undefined))
    .orderBy(desc(apiTokens.id))
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return { tokens: items.map(toTokenView), next_cursor: nextCursor }
}

export async function revokeToken(ctx: ActorContext, id: string): Promise<void> {
  const removed = await ctx.db
    .delete(apiTokens)
    .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, ctx.actor.userId)))
    .returning({ id: apiTokens.id })
  if (removed.length === 0) throw notFound('token', id)
  await recheckClients(ctx, { tokenId: id })
}
