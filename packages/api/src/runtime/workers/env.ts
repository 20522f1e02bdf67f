import { createClient } from '@libsql/client/web'
import { drizzle as drizzleD1 } from 'drizzle-orm/d1'
import { drizzle as drizzleLibsql } from 'drizzle-orm/libsql/web'
import { z } from 'zod'
import type { Clock, Config, ServiceContext } from '../../context.ts'
import type { Db } from '../../db/index.ts'
import * as schema from '../../db/schema.ts'
import { configFrom, settingsSchema } from '../../settings.ts'
import type { AgentHubRpc } from './agent-hub-rpc.ts'
import { WorkersHub } from './hub.ts'

/** The bindings and vars of wrangler.toml; secrets come from `wrangler secret put` (or .dev.vars locally). */
export interface Env {
  /** The D1 database, used when DATABASE_URL is not set. */
  DB?: D1Database
  /** A libSQL server (libsql://, https:// or http://), reached over HTTP; wins over DB. */
  DATABASE_URL?: string
  /** The libSQL server's auth token: a secret. */
  DATABASE_AUTH_TOKEN?: string
  AGENT_HUB: DurableObjectNamespace<AgentHubRpc>
  [key: string]: unknown
}

const binding = (what: string, check: (v: object) => boolean) =>
  z.custom<object>((v) => typeof v === 'object' && v !== null && check(v), `not bound (${what})`)
// An empty var counts as not set, as on Node.
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)
const LIBSQL_PROTOCOLS = ['libsql:', 'https:', 'http:']
// The messages name what is wrong, never the value: a URL may carry credentials.
const libsqlUrl = z.string().refine((v) => {
  try {
    return LIBSQL_PROTOCOLS.includes(new URL(v).protocol)
  } catch {
    return false
  }
}, 'not a libsql://, https:// or http:// URL')

const envSchema = settingsSchema.extend({
  DB: binding('a D1 database', (v) => 'prepare' in v && 'batch' in v).optional(),
  DATABASE_URL: z.preprocess(unsetIfEmpty, libsqlUrl.optional()),
  DATABASE_AUTH_TOKEN: z.preprocess(unsetIfEmpty, z.string().optional()),
  AGENT_HUB: binding('a Durable Object namespace', (v) => 'idFromName' in v),
  BERTH_JWT_SECRET: z.string().min(32, 'at least 32 characters'),
  BERTH_SECRET_KEY: z.string().min(32, 'at least 32 characters'),
})

export interface WorkersConfig extends Config {
  secretKey: string
}

/** The database the env asks for: a libSQL server over HTTP when DATABASE_URL is set, else the D1 binding. */
export type DatabaseChoice =
  | { driver: 'libsql'; url: string; authToken: string | undefined }
  | { driver: 'd1'; binding: D1Database }

/** Raised for an env that is missing a binding or holds a bad setting; its message names them. */
export class EnvError extends Error {
  override readonly name = 'EnvError'
}

/** Reads the worker's env; a bad one throws an EnvError naming every key at fault (never their values). */
export function loadEnv(env: Env): { config: WorkersConfig; database: DatabaseChoice } {
  const parsed = envSchema.safeParse(env)
  const faults = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  if (unsetIfEmpty(env.DATABASE_URL) === undefined && env.DB === undefined) {
    faults.push('DB: not bound (a D1 database), and DATABASE_URL (a libSQL server) is not set')
  }
  if (!parsed.success || faults.length > 0) throw new EnvError(`invalid worker env: ${faults.join('; ')}`)
  const e = parsed.data
  const database: DatabaseChoice = e.DATABASE_URL
    ? { driver: 'libsql', url: e.DATABASE_URL, authToken: e.DATABASE_AUTH_TOKEN }
    : { driver: 'd1', binding: e.DB as D1Database }
  return {
    config: { ...configFrom(e, e.BERTH_JWT_SECRET), secretKey: e.BERTH_SECRET_KEY },
    database,
  }
}

export const clock: Clock = { now: () => Date.now() }

/**
 * drizzle over the chosen database. Both run a batch's statements in one transaction, which is
 * how services write atomically. The libSQL client opens no connection here: each query is
 * its own HTTP request (Hrana over HTTP), so nothing is held between requests.
 */
export function openDb(database: DatabaseChoice): Db {
  if (database.driver === 'libsql') {
    const client = createClient({ url: database.url, authToken: database.authToken })
    return drizzleLibsql(client, { schema })
  }
  return drizzleD1(database.binding, { schema }) as unknown as Db
}

const contexts = new WeakMap<object, ServiceContext>()

/**
 * The services' context for an env, built once per isolate (the env object lives as long as it).
 * The worker and the AgentHub Durable Object both get theirs here, so they open the same database.
 */
export function serviceContextFor(env: Env): ServiceContext {
  let ctx = contexts.get(env)
  if (!ctx) {
    const { config, database } = loadEnv(env)
    const db = openDb(database)
    ctx = { db, hub: new WorkersHub(env.AGENT_HUB, db, config), config, clock }
    contexts.set(env, ctx)
  }
  return ctx
}
