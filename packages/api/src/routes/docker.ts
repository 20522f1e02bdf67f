import { DOCKER_TUNNEL_PROTOCOL } from '@berth/shared'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { upgradeRequired } from '../errors.ts'
import { actorContext, bearerFromProtocol, bearerOf, offeredProtocols, requireAuth } from '../middleware.ts'
import { openDockerTunnel } from '../services/docker.ts'
import { dockerSession } from '../services/docker-session.ts'

/** Docker's own API, mounted under /servers/:sid: `GET /docker` as a WebSocket carrying one Docker connection. */
export const dockerRoutes = new Hono<AppEnv>().get(
  '/docker',
  bearerFromProtocol,
  requireAuth('read'),
  async (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') throw upgradeRequired()
    const deps = c.get('deps')
    // Opened before the upgrade, so a refusal, an unknown server or an offline agent is a plain HTTP error.
    const opened = await openDockerTunnel(actorContext(c), {
      serverId: c.req.param('sid') ?? '',
      bearer: bearerOf(c),
      requestId: c.get('requestId'),
      ip: deps.clientAddress(c),
    })
    const protocol = offeredProtocols(c).includes(DOCKER_TUNNEL_PROTOCOL) ? DOCKER_TUNNEL_PROTOCOL : null
    try {
      return await deps.upgradeClient(c, protocol, (socket) => {
        const session = dockerSession({
          opened,
          socket,
          ids: { requestId: c.get('requestId'), now: () => deps.clock.now() },
        })
        deps.waitUntil(c, session.done)
        return session.handlers
      })
    } catch (err) {
      opened.tunnel.close()
      opened.hold.release()
      throw err
    }
  },
)
