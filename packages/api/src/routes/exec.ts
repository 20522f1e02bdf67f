import { execQuery, TERMINAL_PROTOCOL } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { upgradeRequired } from '../errors.ts'
import {
  actorContext,
  bearerFromProtocol,
  bearerOf,
  offeredProtocols,
  query,
  requireAuth,
} from '../middleware.ts'
import { openExec, terminalSession } from '../services/exec.ts'

/** The terminal, mounted under /servers/:sid/containers: `GET /:cid/exec` as a WebSocket. */
export const execRoutes = new Hono<AppEnv>().get(
  '/:cid/exec',
  bearerFromProtocol,
  requireAuth('write'),
  query(execQuery),
  async (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      throw upgradeRequired()
    }
    const deps = c.get('deps')
    // Opened before the upgrade, so an unknown container or an offline server is a plain HTTP error.
    const terminal = await openExec(actorContext(c), {
      bearer: bearerOf(c),
      serverId: c.req.param('sid') ?? '',
      ref: c.req.param('cid'),
      query: c.req.valid('query'),
    })
    const protocol = offeredProtocols(c).includes(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : null
    try {
      return await deps.upgradeClient(c, protocol, (socket) => {
        const session = terminalSession({
          ...terminal,
          socket,
          ids: { requestId: c.get('requestId'), now: () => deps.clock.now() },
        })
        deps.waitUntil(c, session.done)
        return session.handlers
      })
    } catch (err) {
      terminal.stream.cancel()
      terminal.hold.release()
      throw err
    }
  },
)
