import { Hono, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { AppEnv, Deps } from './context.ts'
import { ApiError } from './errors.ts'
import { audit, renderError, requestId, serviceContext } from './middleware.ts'
import { agentRoutes } from './routes/agent.ts'
import { appRoutes } from './routes/apps.ts'
import { auditRoutes } from './routes/audit.ts'
import { authRoutes } from './routes/auth.ts'
import { cliRoutes } from './routes/cli.ts'
import { allContainerRoutes, containerRoutes } from './routes/containers.ts'
import { deploymentRoutes } from './routes/deployments.ts'
import { dockerRoutes } from './routes/docker.ts'
import { dockerApiRoutes } from './routes/docker-api.ts'
import { execRoutes } from './routes/exec.ts'
import { fileRoutes } from './routes/files.ts'
import { gitRoutes } from './routes/git.ts'
import { hostObjectRoutes } from './routes/host-objects.ts'
import { openApiRoutes } from './routes/openapi.ts'
import { realtimeRoutes } from './routes/realtime.ts'
import { serverRoutes } from './routes/servers.ts'
import { tokenRoutes } from './routes/tokens.ts'
import { userRoutes } from './routes/users.ts'
import { webhookRoutes } from './routes/webhooks.ts'
import { getHealth } from './services/health.ts'

export type { Clock, Config, Deps } from './context.ts'
export type { AgentEvents, Hub } from './hub/hub.ts'

/** Requests that carry an upload (an app's tarball, files for a container): a larger body limit. */
const UPLOAD_PATH = /^\/api\/v1\/(apps\/[^/]+\/deploy|servers\/[^/]+\/containers\/[^/]+\/files)$/
/** Requests to a server's Docker: their bodies stream to Docker, which sets its own limits. */
const DOCKER_API_PATH = /^\/api\/v1\/servers\/[^/]+\/docker-api\//

/** Builds the whole API from its dependencies; knows nothing of the runtime it is served on. */
export function createApp(deps: Deps) {
  const api = new Hono<AppEnv>()
    .get('/health', async (c) => {
      const health = await getHealth(serviceContext(c))
      return c.json(health, health.status === 'ok' ? 200 : 503)
    })
    .route('/auth', authRoutes)
    .route('/users', userRoutes)
    .route('/tokens', tokenRoutes)
    .route('/servers', serverRoutes)
    .route('/containers', allContainerRoutes)
    .route('/servers/:sid/containers', containerRoutes)
    .route('/servers/:sid/containers', fileRoutes)
    .route('/servers/:sid/containers', gitRoutes)
    .route('/servers/:sid/containers', execRoutes)
    .route('/servers/:sid', hostObjectRoutes)
    .route('/servers/:sid', dockerRoutes)
    .route('/servers/:sid', dockerApiRoutes)
    .route('/apps', appRoutes)
    .route('/deployments', deploymentRoutes)
    .route('/webhooks', webhookRoutes)
    .route('/agent', agentRoutes)
    .route('/cli', cliRoutes)
    .route('/audit', auditRoutes)
    .route('/ws', realtimeRoutes)
    // Read on the first request for the document, once every route above and the app exist.
    .route(
      '/',
      openApiRoutes(() => app.routes),
    )

  const app = new Hono<AppEnv>()
  app.use(async (c, next) => {
    c.set('deps', deps)
    await next()
  })
  app.use(requestId)
  const limit = (maxSize: number): MiddlewareHandler<AppEnv> => {
    const tooLarge = () =>
      new ApiError('payload_too_large', `the request body is larger than ${maxSize} bytes`, {
        details: { max_bytes: maxSize },
      })
    // Counts a body as it is read, for one whose length is not declared up front.
    const counted = bodyLimit({
      maxSize,
      onError: () => {
        throw tooLarge()
      },
    })
    // Decided from the headers where they say enough: looking at the body itself makes the Node
    // adapter build a whole Request, the larger part of a small request's cost.
    return async (c, next) => {
      const method = c.req.method
      if (method === 'GET' || method === 'HEAD') return next()
      const length = c.req.header('Content-Length')
      if (length === undefined || c.req.header('Transfer-Encoding') !== undefined) return counted(c, next)
      if (!/^\d+$/.test(length.trim())) {
        throw new ApiError('validation_error', 'the Content-Length header is not a number', {
          code: 'malformed_request',
        })
      }
      if (Number(length) > maxSize) throw tooLarge()
      return next()
    }
  }
  const bodies = limit(deps.config.maxBodyBytes)
  const uploads = limit(deps.config.maxUploadBytes)
  app.use((c, next) => {
    const path = c.req.path
    if (DOCKER_API_PATH.test(path)) return next()
    return UPLOAD_PATH.test(path) ? uploads(c, next) : bodies(c, next)
  })
  app.use(audit)
  app.onError(renderError)
  app.notFound((c) => renderError(new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`), c))
  return app.route('/api/v1', api)
}

export type App = ReturnType<typeof createApp>
export type AppType = App
