import type { Role, Scope } from '@berth/shared'
import { eq } from 'drizzle-orm'
import { jwtVerify, SignJWT } from 'jose'
import type { Actor, Level, ServiceContext } from '../context.ts'
import { apiTokens, users } from '../db/schema.ts'
import { ApiError } from '../errors.ts'
import { sha256Hex } from '../lib/crypto.ts'

const LEVELS: Record<Level, number> = { read: 1, write: 2, admin: 3 }
const ROLE_LEVEL: Record<Role, Level> = { viewer: 'read', member: 'write', admin: 'admin' }
/** last_used_at is written at most this often per token, to keep token use off the write path. */
const LAST_USED_RESOLUTION_MS = 60_000

const unauthorized = (message = 'a valid bearer token is required') =>
  new ApiError('auth_error', message, { headers: { 'WWW-Authenticate': 'Bearer' } })

const jwtKeys = new Map<string, Promise<CryptoKey>>()

/** The signing key, imported once per secret (an import per request costs a WebCrypto round trip). */
function jwtKey(secret: string): Promise<CryptoKey> {
  let key = jwtKeys.get(secret)
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    )
    jwtKeys.set(secret, key)
  }
  return key
}

/**
 * Actors of recently seen credentials, so a busy client is not verified and looked up on every
 * request. Changes to users and tokens clear it here at once; other API instances see them
 * within ACTOR_CACHE_MS.
 */
const ACTOR_CACHE_MS = 2_000
const ACTOR_CACHE_SIZE = 10_000
const actors = new Map<string, { actor: Actor; until: number }>()

export function forgetCachedActors(): void {
  actors.clear()
}

function remember(bearer: string, actor: Actor, now: number, expiresAt: number | null): Actor {
  if (actors.size >= ACTOR_CACHE_SIZE) actors.delete(actors.keys().next().value as string)
  actors.set(bearer, { actor, until: Math.min(now + ACTOR_CACHE_MS, expiresAt ?? Number.POSITIVE_INFINITY) })
  return actor
}

/** A session token for a user at its current session epoch (see users.sessionEpoch). */
export async function issueSessionToken(
  ctx: ServiceContext,
  user: { id: string; sessionEpoch: number },
): Promise<{ token: string; expiresAt: number }> {
  const now = ctx.clock.now()
  const expiresAt = now + ctx.config.jwtTtlSeconds * 1000
  const token = await new SignJWT({ typ: 'session', epoch: user.sessionEpoch })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user.id)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(await jwtKey(ctx.config.jwtSecret))
  return { token, expiresAt }
}

/**
 * Resolves a bearer credential (session JWT or `berth_pat_` API token) to the actor behind it,
 * as the user's row says now: a session issued before the user's last password change or
 * disable, a disabled or deleted user, a revoked or expired token is refused. Anything holding
 * a credential open (a socket, a stream) calls this again to re-check it.
 */
export async function authenticateBearer(ctx: ServiceContext, bearer: string): Promise<Actor> {
  const now = ctx.clock.now()
  const cached = actors.get(bearer)
  if (cached && cached.until > now) return cached.actor
  if (cached) actors.delete(bearer)
  if (bearer.startsWith('berth_pat_')) {
    const hash = await sha256Hex(bearer)
    const [row] = await ctx.db
      .select({ token: apiTokens, role: users.role, disabled: users.disabled })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(eq(apiTokens.tokenHash, hash))
      .limit(1)
    if (!row || row.disabled) throw unauthorized('the API token is not valid')
    if (row.token.expiresAt !== null && row.token.expiresAt <= now)
      throw unauthorized('the API token has expired')
    if (row.token.lastUsedAt === null || now - row.token.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
      await ctx.db.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, row.token.id))
    }
    const actor: Actor = {
      type: 'token',
      userId: row.token.userId,
      role: row.role,
      tokenId: row.token.id,
      scopes: row.token.scopes,
      dockerServers: row.token.dockerServers,
      expiresAt: row.token.expiresAt,
    }
    return remember(bearer, actor, now, row.token.expiresAt)
  }
  let subject: string | undefined
  let epoch = 0
  let expiresAt: number | null = null
  try {
    const { payload } = await jwtVerify(bearer, await jwtKey(ctx.config.jwtSecret), {
      algorithms: ['HS256'],
      currentDate: new Date(now),
    })
    if (payload.typ === 'session') subject = payload.sub
    if (typeof payload.epoch === 'number') epoch = payload.epoch
    if (payload.exp) expiresAt = payload.exp * 1000
  } catch {
    throw unauthorized('the session token is not valid or has expired')
  }
  if (!subject) throw unauthorized('the session token is not valid or has expired')
  const [user] = await ctx.db
    .select({ id: users.id, role: users.role, disabled: users.disabled, sessionEpoch: users.sessionEpoch })
    .from(users)
    .where(eq(users.id, subject))
    .limit(1)
  if (!user || user.disabled) throw unauthorized('the account no longer exists or is disabled')
  if (epoch !== user.sessionEpoch)
    throw unauthorized('the session has ended (password changed or account disabled); log in again')
  return remember(bearer, { type: 'user', userId: user.id, role: user.role }, now, expiresAt)
}

/** The highest level an actor may act at: its role, narrowed by a token's scopes. */
export function actorLevel(actor: Actor): Level {
  const roleLevel = ROLE_LEVEL[actor.role]
  if (actor.type === 'user') return roleLevel
  return minLevel(roleLevel, maxScope(actor.scopes))
}

/**
 * Refuses an actor below `needed`. Self-service routes (one's own tokens) are open to every
 * role; only a token's scopes limit them.
 */
export function assertLevel(
  actor: Actor,
  { needed, selfService }: { needed: Level; selfService?: boolean },
): void {
  const have = selfService ? (actor.type === 'token' ? maxScope(actor.scopes) : 'admin') : actorLevel(actor)
  if (LEVELS[have] >= LEVELS[needed]) return
  const by =
    actor.type === 'token' && LEVELS[maxScope(actor.scopes)] < LEVELS[needed]
      ? 'this token'
      : `the ${actor.role} role`
  throw new ApiError('forbidden', `${by} does not allow this (needs ${needed} access)`, {
    code: 'insufficient_permissions',
  })
}

/** Who may see secret values (app env, container env): whoever may exec into the container could read them there. */
const REVEAL_LEVEL: Level = 'write'

/**
 * The one check before anything that can hold secret values is shown in the clear: revealed env,
 * and a container's files (an app's env file, its config).
 */
export function assertMayReveal(actor: Actor, what = 'revealing secret values'): void {
  if (levelAtLeast(actorLevel(actor), REVEAL_LEVEL)) return
  throw new ApiError('forbidden', `${what} needs ${REVEAL_LEVEL} access`, { code: 'reveal_forbidden' })
}

/** A token that expires may not hand out what never does (a password, a role): that would outlive it. */
export function assertNoLastingGrant(actor: Actor, what: string): void {
  if (actor.type !== 'token' || actor.expiresAt === null) return
  throw new ApiError(
    'forbidden',
    `a token that expires cannot ${what}; use a session or a token without expiry`,
    {
      code: 'expiry_exceeds_token',
    },
  )
}

/** The highest level among a token's scopes; `docker` is not a level, and every token may read. */
export function maxScope(scopes: Scope[]): Level {
  return scopes.reduce<Level>((best, s) => (isLevel(s) && LEVELS[s] > LEVELS[best] ? s : best), 'read')
}

export function isLevel(scope: Scope): scope is Level {
  return Object.hasOwn(LEVELS, scope)
}

function minLevel(a: Level, b: Level): Level {
  return LEVELS[a] <= LEVELS[b] ? a : b
}

export function roleLevel(role: Role): Level {
  return ROLE_LEVEL[role]
}

export function levelAtLeast(have: Level, needed: Level): boolean {
  return LEVELS[have] >= LEVELS[needed]
}
