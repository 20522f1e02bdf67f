import { drizzle } from 'drizzle-orm/d1'
import { z } from 'zod'
import type { Clock, Config, ServiceContext } from '../../context.ts'
import type { Db } from '../../db/index.ts'
import * as schema from '../../db/schema.ts'
import { configFrom, settingsSchema } from '../../settings.ts'
import type { AgentHub } from './agent-hub.ts'
import { WorkersHub } from './hub.ts'

/** The bindings and vars of wrangler.toml; secrets come from `wrangler secret put` (or .dev.vars locally). */
export interface Env {
  DB: D1Database
  AGENT_HUB: DurableObjectNamespace<AgentHub>
  [key: string]: unknown
}

const binding = (what: string, check: (v: object) => boolean) =>
  z.custom<object>((v) => typeof v === 'object' && v !== null && check(v), `not bound (${what})`)
const envSchema = settingsSchema.extend({
  DB: binding('a D1 database', (v) => 'prepare' in v && 'batch' in v),
  AGENT_HUB: binding('a Durable Object namespace', (v) => 'idFromName' in v),
  BERTH_JWT_SECRET: z.string().min(32, 'at least 32 characters'),
  BERTH_SECRET_KEY: z.string().min(32, 'at least 32 characters'),
})

export interface WorkersConfig extends Config {
  secretKey: string
}

/** Raised for an env that is missing a binding or holds a bad setting; its message names them. */
export class EnvError extends Error {
  override readonly name = 'EnvError'
}

/** Reads the worker's env; a bad one throws an EnvError naming every key at fault (never their values). */
export function loadConfig(env: Env): WorkersConfig {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    const keys = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    throw new EnvError(`invalid worker env: ${keys.join('; ')}`)
  }
  const e = parsed.data
  return { ...configFrom(e, e.BERTH_JWT_SECRET), secretKey: e.BERTH_SECRET_KEY }
}

export const clock: Clock = { now: () => Date.now() }

/** drizzle over the D1 binding; D1's batch runs its statements in one transaction, as libSQL's does. */
export function openDb(env: Env): Db {
  return drizzle(env.DB, { schema }) as unknown as Db
}

const contexts = new WeakMap<object, ServiceContext>()

/** The services' context for an env, built once per isolate (the env object lives as long as it). */
export function serviceContextFor(env: Env): ServiceContext {
  let ctx = contexts.get(env)
  if (!ctx) {
    const config = loadConfig(env)
    const db = openDb(env)
    ctx = { db, hub: new WorkersHub(env.AGENT_HUB, db, config), config, clock }
    contexts.set(env, ctx)
  }
  return ctx
}
