import { auditListQuery } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, query, requireAuth } from '../middleware.ts'
import { listAudit } from '../services/audit.ts'

export const auditRoutes = new Hono<AppEnv>().get(
  '/',
  requireAuth('admin'),
  query(auditListQuery),
  async (c) => c.json(await listAudit(actorContext(c), c.req.valid('query')), 200),
)
