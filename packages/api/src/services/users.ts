import type {
  changePasswordBody,
  createUserBody,
  loginBody,
  Role,
  registerBody,
  User,
  updateUserBody,
} from '@berth/shared'
import { newId } from '@berth/shared'
import { and, count, eq, gt, lt, ne, type SQL, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { ActorContext, ServiceContext } from '../context.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { loginFailures, users } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import { decoyPasswordHash, hashPassword, verifyPassword } from '../lib/crypto.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { iso } from '../lib/time.ts'
import { assertNoLastingGrant, issueSessionToken } from './auth.ts'
import { recheckClients } from './clients.ts'

export const LOGIN_WINDOW_MS = 60_000
export const LOGIN_MAX_FAILURES = 10

type UserRow = typeof users.$inferSelect

export function toUserView(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    disabled: row.disabled,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }
}

const emailTaken = (email: string) =>
  new ApiError('conflict', `a user with email ${email} already exists`, { code: 'email_taken' })

/**
 * Registers a user. The first user becomes admin; after that registration is closed unless
 * open registration is on, and then new users are members.
 */
export async function registerUser(ctx: ServiceContext, input: z.infer<typeof registerBody>): Promise<User> {
  const now = ctx.clock.now()
  const id = newId('user', now)
  const passwordHash = await hashPassword(input.password)
  try {
    // One statement, so two first registrations cannot both become admin.
    const first = await ctx.db.all<{ id: string }>(sql`
      insert into ${users} (id, email, name, password_hash, role, disabled, created_at, updated_at)
      select ${id}, ${input.email}, ${input.name ?? null}, ${passwordHash}, 'admin', 0, ${now}, ${now}
      where not exists (select 1 from ${users})
      returning id`)
    if (first.length === 0) {
      if (!ctx.config.openRegistration) {
        throw new ApiError('forbidden', 'registration is closed; ask an admin to create your account', {
          code: 'registration_closed',
        })
      }
      await ctx.db.insert(users).values({
        id,
        email: input.email,
        name: input.name ?? null,
        passwordHash,
        role: 'member',
        createdAt: now,
        updatedAt: now,
      })
    }
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(input.email)
    throw err
  }
  return getUser(ctx, id)
}

/**
 * Counts a password attempt against `key` before the password is checked, in one statement, so
 * concurrent attempts cannot all pass the count. A right password gives its attempt back.
 */
async function reservePasswordAttempt(ctx: ServiceContext, key: string): Promise<number> {
  const now = ctx.clock.now()
  const [reserved] = await ctx.db.all<{ id: number }>(sql`
    insert into ${loginFailures} ("key", "at")
    select ${key}, ${now}
    where (select count(*) from ${loginFailures} where "key" = ${key} and "at" > ${now - LOGIN_WINDOW_MS})
      < ${LOGIN_MAX_FAILURES}
    returning id`)
  if (!reserved) {
    throw new ApiError('rate_limited', 'too many failed logins; try again in a minute', {
      code: 'too_many_login_failures',
      headers: { 'Retry-After': String(LOGIN_WINDOW_MS / 1000) },
    })
  }
  return reserved.id
}

async function releasePasswordAttempt(ctx: ServiceContext, id: number): Promise<void> {
  await ctx.db.delete(loginFailures).where(eq(loginFailures.id, id))
}

const attemptKey = (email: string, clientAddress: string | null) => `${email}|${clientAddress ?? 'unknown'}`

export async function loginUser(
  ctx: ServiceContext,
  { body: input, clientAddress }: { body: z.infer<typeof loginBody>; clientAddress: string | null },
): Promise<{ token: string; expires_at: string; user: User }> {
  const attempt = await reservePasswordAttempt(ctx, attemptKey(input.email, clientAddress))
  const [row] = await ctx.db.select().from(users).where(eq(users.email, input.email)).limit(1)
  const ok = await verifyPassword(input.password, row?.passwordHash ?? (await decoyPasswordHash()))
  if (!row || !ok || row.disabled) {
    throw new ApiError('auth_error', 'email or password is wrong', { code: 'invalid_credentials' })
  }
  await releasePasswordAttempt(ctx, attempt)
  const session = await issueSessionToken(ctx, row)
  return { token: session.token, expires_at: iso(session.expiresAt), user: toUserView(row) }
}

/**
 * Changes the acting user's own password, given the current one (counted like a login). Every
 * session of the user ends; the caller gets a fresh one back. API tokens keep working.
 */
export async function changePassword(
  ctx: ActorContext,
  { body: input, clientAddress }: { body: z.infer<typeof changePasswordBody>; clientAddress: string | null },
): Promise<{ token: string; expires_at: string; user: User }> {
  const [row] = await ctx.db.select().from(users).where(eq(users.id, ctx.actor.userId)).limit(1)
  if (!row) throw notFound('user', ctx.actor.userId)
  const attempt = await reservePasswordAttempt(ctx, attemptKey(row.email, clientAddress))
  if (!(await verifyPassword(input.current_password, row.passwordHash))) {
    throw new ApiError('forbidden', 'the current password is wrong', { code: 'wrong_password' })
  }
  await releasePasswordAttempt(ctx, attempt)
  const [changed] = await ctx.db
    .update(users)
    .set({
      passwordHash: await hashPassword(input.password),
      sessionEpoch: sql`${users.sessionEpoch} + 1`,
      updatedAt: ctx.clock.now(),
    })
    .where(eq(users.id, row.id))
    .returning()
  if (!changed) throw notFound('user', row.id)
  await recheckClients(ctx, { userId: row.id })
  const session = await issueSessionToken(ctx, changed)
  return { token: session.token, expires_at: iso(session.expiresAt), user: toUserView(changed) }
}

export async function getUser(ctx: ServiceContext, id: string): Promise<User> {
  const [row] = await ctx.db.select().from(users).where(eq(users.id, id)).limit(1)
  if (!row) throw notFound('user', id)
  return toUserView(row)
}

export async function listUsers(ctx: ActorContext, page: { cursor?: string; limit: number }) {
  const after = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(users)
    .where(after ? gt(users.id, after) : undefined)
    .orderBy(users.id)
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return { users: items.map(toUserView), next_cursor: nextCursor }
}

export async function createUser(ctx: ActorContext, input: z.infer<typeof createUserBody>): Promise<User> {
  assertNoLastingGrant(ctx.actor, 'create users')
  const now = ctx.clock.now()
  const id = newId('user', now)
  const passwordHash = await hashPassword(input.password)
  try {
    await ctx.db.insert(users).values({
      id,
      email: input.email,
      name: input.name ?? null,
      passwordHash,
      role: input.role,
      createdAt: now,
      updatedAt: now,
    })
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(input.email)
    throw err
  }
  return getUser(ctx, id)
}

/** Refuses a change that would leave no active admin. */
async function assertAnotherAdmin(ctx: ServiceContext, exceptId: string): Promise<void> {
  const [other] = await ctx.db
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.disabled, false), ne(users.id, exceptId)))
  if ((other?.n ?? 0) === 0) {
    throw new ApiError('state_error', 'this is the last active admin; make another admin first', {
      code: 'last_admin',
    })
  }
}

export async function updateUser(
  ctx: ActorContext,
  { id, body: input }: { id: string; body: z.infer<typeof updateUserBody> },
): Promise<User> {
  if (input.role !== undefined || input.password !== undefined)
    assertNoLastingGrant(ctx.actor, "set a user's role or password")
  const [row] = await ctx.db.select().from(users).where(eq(users.id, id)).limit(1)
  if (!row) throw notFound('user', id)
  const losesAdmin =
    row.role === 'admin' && ((input.role && input.role !== 'admin') || input.disabled === true)
  if (losesAdmin) await assertAnotherAdmin(ctx, id)
  const changes: Partial<Omit<typeof users.$inferInsert, 'sessionEpoch'>> & { sessionEpoch?: SQL } = {
    updatedAt: ctx.clock.now(),
  }
  if (input.name !== undefined) changes.name = input.name
  if (input.role !== undefined) changes.role = input.role as Role
  if (input.disabled !== undefined) changes.disabled = input.disabled
  if (input.password !== undefined) changes.passwordHash = await hashPassword(input.password)
  // A new password or a disable ends every session; a role is read afresh on each request anyway.
  if (input.password !== undefined || input.disabled === true)
    changes.sessionEpoch = sql`${users.sessionEpoch} + 1`
  await ctx.db.update(users).set(changes).where(eq(users.id, id))
  await recheckClients(ctx, { userId: id })
  return getUser(ctx, id)
}

export async function deleteUser(ctx: ActorContext, id: string): Promise<void> {
  const [row] = await ctx.db.select({ role: users.role }).from(users).where(eq(users.id, id)).limit(1)
  if (!row) throw notFound('user', id)
  if (id === ctx.actor.userId) {
    throw new ApiError('state_error', 'you cannot delete your own account', { code: 'self_delete' })
  }
  if (row.role === 'admin') await assertAnotherAdmin(ctx, id)
  await ctx.db.delete(users).where(eq(users.id, id))
  await recheckClients(ctx, { userId: id })
}

export async function pruneLoginFailures(ctx: ServiceContext): Promise<void> {
  await ctx.db.delete(loginFailures).where(lt(loginFailures.at, ctx.clock.now() - LOGIN_WINDOW_MS))
}
