import { newId } from '@berth/shared'
import type { Context } from 'hono'
import { type App, createApp } from '../../app.ts'
import type { ClientSocket, ClientSocketHandlers } from '../../context.ts'
import { ApiError, errorBody, upgradeRequired } from '../../errors.ts'
import { log } from '../../lib/log.ts'
import { runMaintenance } from '../../services/maintenance.ts'
import { type Env, EnvError, serviceContextFor } from './env.ts'

// The Cloudflare Workers entry of the API (wrangler.toml `main`): the app per isolate, the
// AgentHub Durable Object that holds each server's agent socket, and maintenance on a Cron Trigger.

export { AgentHub } from './agent-hub.ts'

const apps = new WeakMap<object, App>()

/** The app for an env, built on its first request in this isolate; a bad env throws an EnvError. */
function appFor(env: Env): App {
  let app = apps.get(env)
  if (!app) {
    app = createApp({
      ...serviceContextFor(env),
      clientAddress: (c) => c.req.header('CF-Connecting-IP') ?? null,
      waitUntil: (c, work) => c.executionCtx.waitUntil(work),
      // No file system on Workers: GET /agent/download and /cli/download answer 404; fetch them elsewhere.
      agentBundle: async () => null,
      cliBundle: async () => null,
      sizedBody: (body, bytes) => body.pipeThrough(new FixedLengthStream(bytes)),
      presetHeader: () => false,
      upgradeClient,
      // workerd drops Upgrade before the worker in wrangler dev; one that arrives is refused here.
      upgradeRaw: () => {
        throw new ApiError(
          'validation_error',
          'Workers cannot hand a raw connection over: send this request without Upgrade, or reach Docker through the docker WebSocket',
          { code: 'upgrade_unsupported' },
        )
      },
    })
    apps.set(env, app)
  }
  return app
}

/** A client's WebSocket, accepted by this worker (not hibernatable: it lives as long as its session). */
function upgradeClient(
  c: Context,
  protocol: string | null,
  open: (socket: ClientSocket) => ClientSocketHandlers,
): Response {
  if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
    throw upgradeRequired()
  }
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  // Binary messages (the Docker tunnel's bytes) as ArrayBuffers; the standard's default is Blob.
  server.binaryType = 'arraybuffer'
  server.accept()
  const handlers = open({
    send: (text) => {
      try {
        server.send(text)
      } catch {
        // closed underneath
      }
    },
    sendBytes: (data) => {
      try {
        server.send(data)
      } catch {
        // closed underneath
      }
    },
    close: (code, reason) => server.close(code, reason),
    // workerd does not say how much is queued to a client.
    buffered: () => 0,
  })
  server.addEventListener('message', ({ data }) => {
    if (typeof data === 'string') return handlers.message(data)
    if (handlers.bytes) return handlers.bytes(new Uint8Array(data))
    handlers.message(new TextDecoder().decode(data))
  })
  server.addEventListener('close', () => handlers.closed())
  server.addEventListener('error', () => handlers.closed())
  return new Response(null, {
    status: 101,
    webSocket: client,
    headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : {},
  })
}

/** A misconfigured worker answers every request with the documented 500; only the log names the fault. */
function misconfigured(err: unknown): Response {
  const requestId = newId('request')
  const why = err instanceof EnvError ? err.message : 'the app could not be built'
  log.error(`${why} request_id=${requestId}`, err instanceof EnvError ? undefined : err)
  const body = errorBody(
    new ApiError('internal', `internal error (request ${requestId})`),
    requestId,
    Date.now(),
  )
  return Response.json(body, { status: 500, headers: { 'X-Request-Id': requestId } })
}

export default {
  fetch(request, env, ctx) {
    let app: App
    try {
      app = appFor(env)
    } catch (err) {
      return misconfigured(err)
    }
    return app.fetch(request, env, ctx)
  },

  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(runMaintenance(serviceContextFor(env)).catch((err) => log.error('maintenance failed', err)))
  },
} satisfies ExportedHandler<Env>
