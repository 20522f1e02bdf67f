import { readFile } from 'node:fs/promises'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import type { Context } from 'hono'
import { WebSocket, WebSocketServer } from 'ws'
import { createApp } from '../../app.ts'
import type { ClientSocket, ClientSocketHandlers, Clock, Deps, ServiceContext } from '../../context.ts'
import type { Db } from '../../db/index.ts'
import { upgradeRequired } from '../../errors.ts'
import { log } from '../../lib/log.ts'
import { agentEvents } from '../../services/agent-events.ts'
import { flushAudit } from '../../services/audit.ts'
import { runMaintenance } from '../../services/maintenance.ts'
import { sweepSilentServers } from '../../services/servers.ts'
import type { NodeConfig } from './config.ts'
import { openDatabase } from './db.ts'
import { NodeHub, type UpgradeEnv } from './hub.ts'
import { upgradeRaw, writeResponse } from './raw-upgrade.ts'
import { webAssets } from './web.ts'

export const AGENT_BUNDLE = fileURLToPath(new URL('../../../../agent/dist/berth-agent.mjs', import.meta.url))
const CLI_BUNDLE = fileURLToPath(new URL('../../../../cli/dist/berth.mjs', import.meta.url))

export interface RunningApi {
  url: string
  port: number
  db: Db
  ctx: ServiceContext
  close(): Promise<void>
}

/** Opens the database, builds the app and listens: the only place the Node API binds a port. */
export async function startNodeApi(config: NodeConfig): Promise<RunningApi> {
  const { db, client } = await openDatabase(config.databaseUrl, config.databaseAuthToken)
  const clock: Clock = { now: () => Date.now() }
  let ctx: ServiceContext
  const hub = new NodeHub({
    heartbeatMs: config.heartbeatMs,
    statsIntervalMs: config.statsIntervalMs,
    callTimeoutMs: config.callTimeoutMs,
    streamStallMs: config.streamStallMs,
    soleWriter: config.databaseUrl.startsWith('file:'),
    clock,
    events: agentEvents({ ctx: () => ctx }),
  })
  ctx = { db, hub, config, clock }
  const clients = new WebSocketServer({
    noServer: true,
    maxPayload: CLIENT_FRAME_BYTES,
    handleProtocols: (_offered, req) => PROTOCOL_OF.get(req) ?? false,
  })
  const deps: Deps = {
    db,
    hub,
    config,
    clock,
    clientAddress: (c) => clientAddress(c, config.trustProxyHops),
    waitUntil: () => {},
    agentBundle: async () => readFile(AGENT_BUNDLE).catch(() => null),
    cliBundle: async () => readFile(CLI_BUNDLE).catch(() => null),
    // The Node adapter sends the Content-Length the route sets.
    sizedBody: (body) => body,
    presetHeader: (c, name, value) => {
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
      if (!outgoing || outgoing.headersSent) return false
      // The adapter's writeHead keeps it beside the headers of the app's response.
      outgoing.setHeader(name, value)
      return true
    },
    upgradeClient: (c, protocol, open) => upgradeClient(clients, c, protocol, open),
    upgradeRaw,
  }
  const app = createApp(deps)

  // Servers left online by a process that died are offline until their agents come back.
  await sweepSilentServers(ctx)
  hub.start()
  const maintenance = setInterval(() => {
    runMaintenance(ctx).catch((err) => log.error('maintenance failed', err))
  }, config.maintenanceMs)
  maintenance.unref()

  const web = webAssets()
  // The API under /api/, the dashboard's files for every other path.
  const site: typeof app.fetch = (req, env) =>
    req.url.startsWith('/api/', req.url.indexOf('/', req.url.indexOf('//') + 2))
      ? app.fetch(req, env)
      : web(req)
  const server = await listen(site, config)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void handleUpgrade(app.fetch, req, socket, head)
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`

  return {
    url,
    port,
    db,
    ctx,
    async close() {
      clearInterval(maintenance)
      hub.close()
      for (const ws of clients.clients) ws.close(1001, 'API shutting down')
      clients.close()
      await flushAudit(ctx).catch((err) => log.error('audit flush failed', err))
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      })
      client.close()
    },
  }
}

function listen(fetch: ReturnType<typeof createApp>['fetch'], config: NodeConfig): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port: config.port, hostname: config.host }, () =>
      resolve(server as Server),
    ) as Server
    server.once('error', reject)
  })
}

/** Runs an upgrade request through the app; when the app did not take the socket, writes its answer. */
async function handleUpgrade(
  fetch: ReturnType<typeof createApp>['fetch'],
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => {})
  const env: UpgradeEnv = { incoming: req, socket, head, upgraded: false }
  const headers = new Headers()
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value)
  }
  let response: Response
  try {
    response = await fetch(
      new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
        method: req.method,
        headers,
      }),
      env,
    )
  } catch (err) {
    log.error('upgrade failed', err)
    response = new Response(null, { status: 500 })
  }
  if (env.upgraded || socket.destroyed) return
  await writeResponse(socket, response)
}

/** The largest frame a client may send (a terminal's keystrokes, a paste). */
const CLIENT_FRAME_BYTES = 1024 * 1024
/** The subprotocol chosen for an upgrade request, read by the server's handleProtocols. */
const PROTOCOL_OF = new WeakMap<IncomingMessage, string>()

function upgradeClient(
  wss: WebSocketServer,
  c: Context,
  protocol: string | null,
  open: (socket: ClientSocket) => ClientSocketHandlers,
): Response {
  const env = c.env as Partial<UpgradeEnv> | undefined
  if (!env?.incoming || !env.socket || !env.head || c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
    throw upgradeRequired()
  }
  env.upgraded = true
  if (protocol) PROTOCOL_OF.set(env.incoming, protocol)
  wss.handleUpgrade(env.incoming, env.socket, env.head, (ws) => {
    const handlers = open({
      send: (text) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text)
      },
      sendBytes: (data) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(data)
      },
      close: (code, reason) => ws.close(code, reason),
      buffered: () => ws.bufferedAmount,
    })
    ws.on('message', (data, isBinary) => {
      if (!isBinary || !handlers.bytes) return handlers.message(String(data))
      handlers.bytes(
        Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data,
      )
    })
    ws.on('error', () => {}) // the close event that follows does the work
    ws.on('close', () => handlers.closed())
  })
  return new Response(null, { status: 200 })
}

/**
 * The socket's peer, or behind `hops` trusted proxies the address the outermost of them saw: each
 * proxy appends its peer to X-Forwarded-For, so entries left of those are the client's own words.
 */
function clientAddress(c: Context, hops: number): string | null {
  if (hops > 0) {
    const forwarded = (c.req.header('X-Forwarded-For') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean)
    const seen = forwarded[Math.max(0, forwarded.length - hops)]
    if (seen) return seen
  }
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  return incoming?.socket.remoteAddress ?? null
}
