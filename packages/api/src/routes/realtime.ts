import { TERMINAL_PROTOCOL } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { actorContext, bearerFromProtocol, bearerOf, offeredProtocols, requireAuth } from '../middleware.ts'
import { holdRealtime, realtimeSession } from '../services/realtime.ts'

/** `GET /ws`: the realtime socket (subscriptions to servers, containers, deployments, the audit log). */
export const realtimeRoutes = new Hono<AppEnv>().get(
  '/',
  bearerFromProtocol,
  requireAuth('read'),
  async (c) => {
    const ctx = actorContext(c)
    const protocol = offeredProtocols(c).includes(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : null
    const hold = holdRealtime(ctx, bearerOf(c))
    try {
      return await c
        .get('deps')
        .upgradeClient(c, protocol, (socket) =>
          realtimeSession(ctx, { hold, socket, ids: { requestId: c.get('requestId') } }),
        )
    } catch (err) {
      hold.release()
      throw err
    }
  },
)
