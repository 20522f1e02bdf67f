import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import type { OpArgs, ProxyDomain, ProxyInfo } from '@berth/shared'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Caddy, httpGet, startCaddy } from '../../../../test/support/caddy.ts'
import { freePort, waitFor } from '../../../../test/support/process.ts'
import { CaddyAdmin } from './admin.ts'
import type { ServedApp } from './config.ts'
import { FrontDoor } from './front-door.ts'

// The front door against a real Caddy (Debian's, started on free loopback ports) with a local
// HTTP server as the app's container; no Docker.

let caddy: Caddy
let folder: string
let upstream: Server
let upstreamPort: number
let logLines: string[]
let told: (ProxyInfo | null)[]
let stops: (() => void)[]

beforeEach(async () => {
  caddy = await startCaddy({ name: 'front-door' })
  folder = await mkdtemp(join(os.tmpdir(), 'berth-front-door-'))
  upstream = createServer((req, res) => res.end(`app says ${req.headers.host}`))
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamPort = (upstream.address() as AddressInfo).port
  logLines = []
  told = []
  stops = []
})

afterEach(async () => {
  for (const stop of stops) stop()
  await caddy.stop()
  await new Promise((resolve) => upstream.close(resolve))
  await rm(folder, { recursive: true, force: true })
})

/** A front door on the test's Caddy and work folder, not started. */
function newFrontDoor(
  options: { tlsLog?: string; checkMs?: number; log?: (line: string) => void; tcpMigrateReq?: string } = {},
) {
  return new FrontDoor({
    admin: new CaddyAdmin({ url: new URL(caddy.adminUrl) }),
    ports: { http: caddy.httpPort, https: caddy.httpsPort },
    tlsLog: options.tlsLog ?? null,
    workDir: folder,
    log: options.log ?? ((line) => logLines.push(line)),
    changed: (proxy) => told.push(proxy),
    checkMs: options.checkMs,
    tcpMigrateReq: options.tcpMigrateReq ?? join(folder, 'no-such-setting'),
  })
}

async function frontDoor(
  options: { tlsLog?: string; checkMs?: number; running?: ServedApp[] } = {},
): Promise<FrontDoor> {
  const door = newFrontDoor(options)
  await door.start()
  // As the agent does once it knows which apps run on the host.
  await door.adopt(options.running ?? [])
  return door
}

/** Runs the re-assert loop until the test ends. */
function running(door: FrontDoor): void {
  const stop = new AbortController()
  stops.push(() => stop.abort())
  void door.run(stop.signal)
}

async function servedApp(appId = 'app_a'): Promise<ServedApp> {
  return {
    appId,
    hostPort: await freePort(),
    upstreams: [{ dockerId: 'c1', host: '127.0.0.1', port: upstreamPort }],
    health: null,
  }
}

const plain = (hostname: string): ProxyDomain => ({
  hostname,
  https: 'off',
  redirect_http: false,
  redirect_to: null,
})

function table(routes: Record<string, ProxyDomain[]>): OpArgs<'proxy.sync'> {
  return {
    settings: { acme_directory: null, acme_email: null },
    apps: Object.entries(routes).map(([app_id, domains]) => ({ app_id, domains })),
  }
}

/** What a browser gets for http://<hostname>/ from Caddy's plain-HTTP port. */
const byHost = (hostname: string) =>
  httpGet(`http://${hostname}/`, { resolveTo: caddy.httpPort }).then((r) => r.body)
const byPort = (port: number) => httpGet(`http://127.0.0.1:${port}/`).then((r) => r.body)

/** A route of the host's own in Berth's plain-HTTP server, and a server of its own on `port`. */
async function addHandConfig(port: number): Promise<void> {
  const route = {
    '@id': 'hand-route',
    match: [{ host: ['hand.example.test'] }],
    handle: [{ handler: 'static_response', body: 'by hand' }],
  }
  expect((await caddy.admin('POST', '/config/apps/http/servers/berth-http/routes', route)).status).toBe(200)
  const own = { listen: [`:${port}`], routes: [{ handle: [{ handler: 'static_response', body: 'my own' }] }] }
  expect((await caddy.admin('PUT', '/config/apps/http/servers/mine', own)).status).toBe(200)
}

describe('FrontDoor against a real Caddy', () => {
  it('does not route again an app the API no longer lists, found running after a restart', async () => {
    const door = newFrontDoor({ log: () => {} })
    await door.start()
    const gone = await servedApp('app_gone')
    const kept = await servedApp('app_kept')
    // The API's table arrives before restore has found the containers, or after: either way.
    const synced = door.sync(table({ [kept.appId]: [] }))
    await door.adopt([gone, kept])
    await synced
    expect(await byPort(kept.hostPort)).toBe(`app says 127.0.0.1:${kept.hostPort}`)
    expect(await byPort(gone.hostPort).catch(() => 'refused')).toBe('refused')
  })

  it('after an agent restart, writes nothing until it knows the running apps, then keeps their routes', async () => {
    const first = await frontDoor()
    const app = await servedApp()
    await first.sync(table({ [app.appId]: [plain('kept.example.test')] }))
    await first.route(app)
    expect(await byHost('kept.example.test')).toBe('app says kept.example.test')

    // The same work folder: a new agent process, which the API syncs before restore has run.
    const before = await caddy.config()
    const secondLog: string[] = []
    const door = newFrontDoor({ log: (line) => secondLog.push(line) })
    await door.start()
    const record = join(folder, 'proxy.json')
    const written = (await stat(record)).ino
    const synced = door.sync(table({ [app.appId]: [plain('kept.example.test')] }))
    // The table is kept (a new file) before anything would be written to Caddy.
    await waitFor('the table kept', async () => (await stat(record)).ino !== written)
    expect(await byHost('kept.example.test')).toBe('app says kept.example.test')
    await door.adopt([app])
    await synced
    // Had the sync been written before the apps were known, their routes would have gone and come back.
    expect(secondLog.filter((line) => /change\(s\)/.test(line))).toEqual([])
    expect(await caddy.config()).toEqual(before)
    expect(await byPort(app.hostPort)).toBe(`app says 127.0.0.1:${app.hostPort}`)
  })

  it('serves an app on its host port and a domain by Host on the http port', async () => {
    const door = await frontDoor()
    expect(door.proxy).toEqual({ kind: 'caddy', version: expect.stringMatching(/^v?2\./) })
    const app = await servedApp()
    await door.route(app)
    expect(await byPort(app.hostPort)).toBe(`app says 127.0.0.1:${app.hostPort}`)

    const result = await door.sync(table({ app_a: [plain('a.example.test')] }))
    expect(result.proxy).toEqual(door.proxy)
    expect(await byHost('a.example.test')).toBe('app says a.example.test')
    expect(await byHost('other.example.test')).toBe('')
  })

  it('changes nothing in Caddy when asked again for what it holds', async () => {
    const door = await frontDoor()
    const app = await servedApp()
    await door.route(app)
    await door.sync(table({ app_a: [plain('a.example.test')] }))
    expect(logLines.filter((l) => l.includes('change(s)'))).toHaveLength(2)
    const before = await caddy.config()

    await door.route(app)
    await door.sync(table({ app_a: [plain('a.example.test')] }))
    expect(logLines.filter((l) => l.includes('change(s)'))).toHaveLength(2)
    expect(await caddy.config()).toEqual(before)
  })

  it('switches an app with domains on both ports to new upstreams in one config load', async () => {
    const door = await frontDoor()
    const app = await servedApp()
    await door.sync(
      table({
        app_a: [
          plain('a.example.test'),
          { ...plain('s.example.test'), https: 'internal', redirect_http: false },
        ],
      }),
    )
    await door.route(app)
    logLines.length = 0
    const other = createServer((_req, res) => res.end('the new one')).listen(0, '127.0.0.1')
    stops.push(() => other.close())
    await new Promise((resolve) => other.once('listening', resolve))
    const port = (other.address() as AddressInfo).port
    await door.route({ ...app, upstreams: [{ dockerId: 'c2', host: '127.0.0.1', port }] })
    // The port server, the HTTPS route and the plain-HTTP route all changed: one write.
    expect(logLines).toEqual(["Caddy: 1 change(s) to Berth's routes"])
    expect(await byHost('a.example.test')).toBe('the new one')
    expect(await byPort(app.hostPort)).toBe('the new one')
  })

  it('holds a claimed host port until the app is routed there, and refuses one already in use', async () => {
    const door = await frontDoor()
    const app = await servedApp()
    await door.claim(app.hostPort, app.appId)
    const held = await httpGet(`http://127.0.0.1:${app.hostPort}/`)
    expect(held.status).toBe(503)
    await door.route(app)
    expect(await byPort(app.hostPort)).toBe(`app says 127.0.0.1:${app.hostPort}`)

    const busy = createServer().listen(0)
    stops.push(() => busy.close())
    await new Promise((resolve) => busy.once('listening', resolve))
    const taken = (busy.address() as AddressInfo).port
    await expect(door.claim(taken, 'app_b')).rejects.toThrow(/address already in use/)
    expect(door.heldPorts()).toEqual([app.hostPort])
    expect(await byPort(app.hostPort)).toBe(`app says 127.0.0.1:${app.hostPort}`)
  })

  it('leaves a route added by hand and a server of the host own through sync and forget', async () => {
    const door = await frontDoor()
    const app = await servedApp()
    await door.route(app)
    await door.sync(table({ app_a: [plain('a.example.test')] }))
    const ownPort = await freePort()
    await addHandConfig(ownPort)

    await door.sync(table({ app_a: [plain('b.example.test')] }))
    expect(await byHost('b.example.test')).toBe('app says b.example.test')
    expect(await byHost('a.example.test')).toBe('')
    await door.forget('app_a')
    await expect(byPort(app.hostPort)).rejects.toThrow(/ECONNREFUSED/)
    expect(await byHost('b.example.test')).toBe('')

    expect(await byHost('hand.example.test')).toBe('by hand')
    expect(await byPort(ownPort)).toBe('my own')
  })

  it('puts its routes back after Caddy restarts with an empty config', async () => {
    const door = await frontDoor({ checkMs: 100 })
    const app = await servedApp()
    await door.route(app)
    await door.sync(table({ app_a: [plain('a.example.test')] }))
    await addHandConfig(await freePort())
    running(door)

    await caddy.restart()
    await expect
      .poll(() => byHost('a.example.test').catch((err: Error) => err.message), { timeout: 15_000 })
      .toBe('app says a.example.test')
    expect(await byPort(app.hostPort)).toBe(`app says 127.0.0.1:${app.hostPort}`)
    // The hand route lived in the config Caddy lost; Berth restores only its own.
    expect(await byHost('hand.example.test')).toBe('')
  })

  it('warns, once Caddy answers, when the kernel resets connections queued at a config load', async () => {
    const setting = join(folder, 'tcp_migrate_req')
    await writeFile(setting, '0\n')
    await newFrontDoor({ tcpMigrateReq: setting }).start()
    expect(logLines.filter((l) => l.startsWith('net.ipv4.tcp_migrate_req is 0'))).toHaveLength(1)

    logLines = []
    await writeFile(setting, '1\n')
    await newFrontDoor({ tcpMigrateReq: setting }).start()
    expect(logLines.some((l) => l.includes('tcp_migrate_req'))).toBe(false)
  })

  it('tells when Caddy stops answering and when it answers again', async () => {
    const door = await frontDoor({ checkMs: 100 })
    const caddyInfo = { kind: 'caddy', version: expect.stringMatching(/^v?2\./) }
    expect(told).toEqual([caddyInfo])
    running(door)

    await caddy.kill()
    await expect.poll(() => door.proxy, { timeout: 15_000 }).toBeNull()
    expect(told).toEqual([caddyInfo, null])
    expect(logLines.some((l) => l.startsWith(`Caddy does not answer at ${caddy.adminUrl}`))).toBe(true)

    await caddy.restart()
    await expect.poll(() => door.proxy, { timeout: 15_000 }).toEqual(caddyInfo)
    expect(told).toEqual([caddyInfo, null, caddyInfo])
  })
})

describe('FrontDoor certificates', () => {
  it('shows an internal domain active with its expiry and issuer, a name with no route pending', async () => {
    const door = await frontDoor()
    await door.route(await servedApp())
    await door.sync(table({ app_a: [{ ...plain('secure.example.test'), https: 'internal' }] }))

    const now = Date.now()
    await expect
      .poll(async () => (await door.certificates(['secure.example.test'])).certificates[0]?.status, {
        timeout: 15_000,
      })
      .toBe('active')
    const { certificates } = await door.certificates(['secure.example.test', 'none.example.test'])
    expect(certificates[0]).toMatchObject({ hostname: 'secure.example.test', status: 'active', reason: null })
    expect(certificates[0]?.expires_at).toBeGreaterThan(now)
    expect(certificates[0]?.issuer).toMatch(/Caddy Local Authority/)
    expect(certificates[1]).toEqual({
      hostname: 'none.example.test',
      status: 'pending',
      reason: null,
      expires_at: null,
      issuer: null,
    })
  })

  it('reads a failure from Caddy’s TLS log, clears it on success, and ignores canceled attempts', async () => {
    const tlsLog = join(folder, 'berth-tls.log')
    const door = await frontDoor({ tlsLog })
    const status = async () => (await door.certificates(['x.example.test'])).certificates[0]
    const write = (...lines: object[]) =>
      appendFile(tlsLog, lines.map((l) => `${JSON.stringify(l)}\n`).join(''))
    // What Caddy 2.6.2 writes, one JSON object per line.
    const refused =
      'Get "http://x.example.test:38247/.well-known/acme-challenge/abc": dial tcp 203.0.113.7:38247: connect: connection refused'
    const challengeFailed = {
      level: 'error',
      ts: 1796140508.9,
      logger: 'http.acme_client',
      msg: 'challenge failed',
      identifier: 'x.example.test',
      challenge_type: 'http-01',
      status_code: 400,
      problem_type: 'urn:ietf:params:acme:error:connection',
      error: refused,
    }
    const noSolvers =
      '[x.example.test] solving challenges: x.example.test: no solvers available for remaining challenges (configured=[http-01] offered=[dns-01 tls-alpn-01 http-01] remaining=[dns-01 tls-alpn-01]) (order=https://127.0.0.1:35795/my-order/G) (ca=https://127.0.0.1:35795/dir)'
    const notObtained = (error: string) => ({
      level: 'error',
      ts: 1796140508.91,
      logger: 'tls.obtain',
      msg: 'could not get certificate from issuer',
      identifier: 'x.example.test',
      issuer: '127.0.0.1:35795-dir',
      error,
    })
    const obtained = {
      level: 'info',
      ts: 1796140431.23,
      logger: 'tls.obtain',
      msg: 'certificate obtained successfully',
      identifier: 'x.example.test',
    }

    expect(await status()).toMatchObject({ status: 'pending', reason: null })
    // The ACME server's account of the challenge wins over Caddy's summary of the attempt.
    await write(challengeFailed, notObtained(noSolvers))
    expect(await status()).toEqual({
      hostname: 'x.example.test',
      status: 'failed',
      reason: refused,
      expires_at: null,
      issuer: null,
    })
    await write(obtained)
    expect(await status()).toMatchObject({ status: 'pending', reason: null })
    await write(
      notObtained(
        '[x.example.test] solving challenges: ... failed after 1 attempts: reading response body: context canceled (order=...)',
      ),
    )
    expect(await status()).toMatchObject({ status: 'pending', reason: null })
    await write(notObtained(noSolvers))
    expect(await status()).toMatchObject({ status: 'failed', reason: noSolvers })
  })
})
