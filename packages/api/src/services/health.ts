import type { Health } from '@berth/shared'
import { sql } from 'drizzle-orm'
import type { ServiceContext } from '../context.ts'

export async function getHealth(ctx: ServiceContext): Promise<Health> {
  let database: 'ok' | 'error' = 'ok'
  try {
    await ctx.db.run(sql`select 1`)
  } catch {
    database = 'error'
  }
  return {
    status: database === 'ok' ? 'ok' : 'degraded',
    version: ctx.config.version,
    services: { database, agents_online: await ctx.hub.onlineCount() },
  }
}
