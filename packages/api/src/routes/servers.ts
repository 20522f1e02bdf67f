import { createServerBody, listQuery, rotateEnrollmentBody, updateServerBody } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, publicUrl, query, requireAuth } from '../middleware.ts'
import {
  agentStatus,
  createServer,
  deleteServer,
  getServer,
  listServers,
  rotateEnrollment,
  serverResources,
  updateServer,
  validateServer,
} from '../services/servers.ts'

export const serverRoutes = new Hono<AppEnv>()
  .get('/', requireAuth('read'), query(listQuery), async (c) =>
    c.json(await listServers(actorContext(c), c.req.valid('query')), 200),
  )
  .post('/', requireAuth('admin'), jsonBody(createServerBody), async (c) => {
    const created = await createServer(actorContext(c), { body: c.req.valid('json'), apiUrl: publicUrl(c) })
    c.set('auditTarget', created.server.id)
    return c.json(created, 201)
  })
  .get('/:id', requireAuth('read'), async (c) =>
    c.json({ server: await getServer(actorContext(c), c.req.param('id')) }, 200),
  )
  .patch('/:id', requireAuth('admin'), jsonBody(updateServerBody), async (c) =>
    c.json(
      { server: await updateServer(actorContext(c), { id: c.req.param('id'), body: c.req.valid('json') }) },
      200,
    ),
  )
  .delete('/:id', requireAuth('admin'), async (c) => {
    await deleteServer(actorContext(c), c.req.param('id'))
    return c.body(null, 204)
  })
  .post('/:id/enrollment', requireAuth('admin'), jsonBody(rotateEnrollmentBody), async (c) => {
    const body = c.req.valid('json')
    const enrollment = await rotateEnrollment(actorContext(c), {
      id: c.req.param('id'),
      ttlSeconds: body.enrollment_ttl_s,
      apiUrl: publicUrl(c),
    })
    return c.json({ enrollment }, 201)
  })
  .post('/:id/validate', requireAuth('write'), async (c) =>
    c.json({ validation: await validateServer(actorContext(c), c.req.param('id')) }, 200),
  )
  .get('/:id/agent', requireAuth('read'), async (c) =>
    c.json({ agent: await agentStatus(actorContext(c), c.req.param('id')) }, 200),
  )
  .get('/:id/resources', requireAuth('read'), async (c) =>
    c.json({ resources: await serverResources(actorContext(c), c.req.param('id')) }, 200),
  )
