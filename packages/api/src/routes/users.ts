import { createUserBody, listQuery, updateUserBody } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, query, requireAuth } from '../middleware.ts'
import { createUser, deleteUser, getUser, listUsers, updateUser } from '../services/users.ts'

export const userRoutes = new Hono<AppEnv>()
  .use(requireAuth('admin'))
  .get('/', query(listQuery), async (c) =>
    c.json(await listUsers(actorContext(c), c.req.valid('query')), 200),
  )
  .post('/', jsonBody(createUserBody), async (c) => {
    const user = await createUser(actorContext(c), c.req.valid('json'))
    c.set('auditTarget', user.id)
    return c.json({ user }, 201)
  })
  .get('/:id', async (c) => c.json({ user: await getUser(actorContext(c), c.req.param('id')) }, 200))
  .patch('/:id', jsonBody(updateUserBody), async (c) => {
    return c.json(
      { user: await updateUser(actorContext(c), { id: c.req.param('id'), body: c.req.valid('json') }) },
      200,
    )
  })
  .delete('/:id', async (c) => {
    await deleteUser(actorContext(c), c.req.param('id'))
    return c.body(null, 204)
  })
