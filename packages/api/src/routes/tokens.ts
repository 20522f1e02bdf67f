import { createTokenBody, listQuery } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, query, requireAuth } from '../middleware.ts'
import { createToken, listTokens, revokeToken } from '../services/tokens.ts'

// Everyone manages their own tokens; a token's own scopes still bound what it may do here.
export const tokenRoutes = new Hono<AppEnv>()
  .get('/', requireAuth('read', { selfService: true }), query(listQuery), async (c) =>
    c.json(await listTokens(actorContext(c), c.req.valid('query')), 200),
  )
  .post('/', requireAuth('write', { selfService: true }), jsonBody(createTokenBody), async (c) => {
    const { token, value } = await createToken(actorContext(c), c.req.valid('json'))
    c.set('auditTarget', token.id)
    return c.json({ token: { ...token, value } }, 201)
  })
  .delete('/:id', requireAuth('write', { selfService: true }), async (c) => {
    await revokeToken(actorContext(c), c.req.param('id'))
    return c.body(null, 204)
  })
