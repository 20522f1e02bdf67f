import { enrollBody } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { ApiError, upgradeRequired } from '../errors.ts'
import { bearerToken, jsonBody, serviceContext } from '../middleware.ts'
import { authenticateAgent, enrollAgent } from '../services/servers.ts'
import { bundleDownload } from './download.ts'

// Routes agents call; they authenticate with enrollment or agent tokens, not user credentials.
export const agentRoutes = new Hono<AppEnv>()
  .post('/enroll', jsonBody(enrollBody), async (c) => {
    const enrolled = await enrollAgent(serviceContext(c), c.req.valid('json').token)
    c.set('agentServerId', enrolled.server_id)
    c.set('auditTarget', enrolled.server_id)
    return c.json(enrolled, 201)
  })
  .get('/connect', async (c) => {
    const token = bearerToken(c)
    if (!token)
      throw new ApiError('auth_error', 'an agent token is required', { code: 'invalid_agent_token' })
    const serverId = await authenticateAgent(serviceContext(c), token)
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      throw upgradeRequired()
    }
    return c.get('deps').hub.acceptAgent(c, serverId)
  })
  .get('/download', async (c) => bundleDownload(c, await c.get('deps').agentBundle(), 'berth-agent.mjs'))
