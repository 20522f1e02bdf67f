import { changePasswordBody, loginBody, registerBody } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, requireAuth, serviceContext } from '../middleware.ts'
import { changePassword, getUser, loginUser, registerUser } from '../services/users.ts'

export const authRoutes = new Hono<AppEnv>()
  .post('/register', jsonBody(registerBody), async (c) => {
    const user = await registerUser(serviceContext(c), c.req.valid('json'))
    c.set('auditTarget', user.id)
    return c.json({ user }, 201)
  })
  .post('/login', jsonBody(loginBody), async (c) => {
    const session = await loginUser(serviceContext(c), {
      body: c.req.valid('json'),
      clientAddress: c.get('deps').clientAddress(c),
    })
    c.set('auditTarget', session.user.id)
    return c.json(session, 200)
  })
  .post('/password', requireAuth('write', { selfService: true }), jsonBody(changePasswordBody), async (c) => {
    const ctx = actorContext(c)
    c.set('auditTarget', ctx.actor.userId)
    return c.json(
      await changePassword(ctx, { body: c.req.valid('json'), clientAddress: c.get('deps').clientAddress(c) }),
      200,
    )
  })
  .get('/me', requireAuth('read'), async (c) => {
    const ctx = actorContext(c)
    const user = await getUser(ctx, ctx.actor.userId)
    const via =
      ctx.actor.type === 'token'
        ? {
            type: 'token',
            token_id: ctx.actor.tokenId,
            scopes: ctx.actor.scopes,
            docker_servers: ctx.actor.dockerServers,
          }
        : { type: 'session' }
    return c.json({ user, auth: via }, 200)
  })
