import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'
import { actorContext, bearerOf, renderError, requireAuth } from '../middleware.ts'
import { relayDockerRequest, spliceDockerUpgrade } from '../services/docker-http.ts'

/** The methods of Docker's Engine API; HEAD is answered by the GET route. */
const METHODS = ['GET', 'POST', 'PUT', 'DELETE']

/** Docker's Engine API over plain HTTP, mounted under /servers/:sid: `/docker-api/<Docker's path>`. */
export const dockerApiRoutes = new Hono<AppEnv>().on(
  METHODS,
  '/docker-api/:path{.+}',
  requireAuth('read', { basic: true }),
  async (c) => {
    const deps = c.get('deps')
    const opening = {
      serverId: c.req.param('sid') ?? '',
      bearer: bearerOf(c),
      requestId: c.get('requestId'),
      ip: deps.clientAddress(c),
    }
    const request = { method: c.req.method, target: dockerTarget(c.req.url), headers: c.req.raw.headers }
    const upgrade = c.req.header('Upgrade')
    if (upgrade === undefined) {
      const response = await relayDockerRequest(actorContext(c), {
        ...opening,
        request: { ...request, body: c.req.raw.body },
      })
      const headers = new Headers(response.headers)
      if (response.length !== null) headers.set('Content-Length', String(response.length))
      const body =
        response.body && response.length !== null
          ? deps.sizedBody(response.body, response.length)
          : response.body
      return new Response(body, { status: response.status, headers })
    }
    if (upgrade.toLowerCase() !== 'tcp') {
      throw new ApiError('validation_error', 'the Docker API takes Upgrade: tcp only', {
        code: 'malformed_request',
      })
    }
    if (c.req.header('Transfer-Encoding') !== undefined) {
      throw new ApiError('validation_error', 'an upgrade request takes a body of a declared length only', {
        code: 'malformed_request',
      })
    }
    const ctx = actorContext(c)
    return deps.upgradeRaw(c, async (client) => {
      try {
        await spliceDockerUpgrade(ctx, { ...opening, request, client })
        return undefined
      } catch (err) {
        // Nothing was written to the client yet: the runtime writes the error there.
        return renderError(err, c)
      }
    })
  },
)

/** The path and query after `/docker-api`, as the client wrote them. */
function dockerTarget(url: string): string {
  const { pathname, search } = new URL(url)
  // /api/v1/servers/<sid>/docker-api/<Docker's path>
  const path = pathname.split('/').slice(6).join('/')
  return `/${path}${search}`
}
