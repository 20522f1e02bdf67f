import https from 'node:https'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { appHost, dockerfile } from './support/apps.ts'
import { type Caddy, httpsGet, loadLoop, startCaddy } from './support/caddy.ts'
import { docker } from './support/docker.ts'
import { waitFor } from './support/process.ts'

// Traffic to apps through a real Caddy that a real agent drives: no request is lost when the app
// is deployed again, when the agent is killed and restarted, or when the API restarts; several
// containers share the load and a dead one is skipped; streams outlive another app's deploy.

let caddy: Caddy
let root = ''
const host = appHost({ env: { BERTH_MAINTENANCE_MS: '1000' } }, async () => {
  caddy = await startCaddy({ name: 'traffic' })
  return { agentEnv: { ...caddy.agentEnv, BERTH_CADDY_CHECK_MS: '1000' } }
})
afterAll(() => caddy?.stop())
beforeAll(async () => {
  root = await caddy.localRootPem()
})

/** A page that says which container and which version served it. */
const whoami = (version: string) => ({
  Dockerfile: dockerfile().replace('httpd -f', 'hostname > /www/host.txt; httpd -f'),
  'index.html': `${version}\n`,
})

/** An app deployed once with an https-internal domain that Caddy serves. */
async function servedApp(name: string, body: Record<string, unknown> = {}) {
  const { app, repo } = await host.deployedApp({ name, files: whoami('version one'), body })
  const hostname = `${app.name}.traffic.test`
  const res = await host.api.http.post(`/apps/${app.id}/domains`, {
    token: host.admin,
    body: { hostname, https: 'internal' },
  })
  expect(res.status, res.text).toBe(201)
  const url = `https://${hostname}/`
  await waitFor(`${hostname} to answer`, async () => {
    const page = await httpsGet(url, { resolveTo: caddy.httpsPort, ca: root }).catch(() => null)
    return page?.status === 200 && page.body === 'version one\n'
  })
  return { app, repo, url }
}

const load = (url: string, count: number) =>
  loadLoop({
    url,
    count,
    concurrency: 2,
    durationMs: count * 20,
    resolveTo: caddy.httpsPort,
    ca: root,
    served: (r) => r.status === 200 && /^version /.test(r.body),
  })

describe('no request to an app is lost', () => {
  test('across a deploy of a new version', async () => {
    const { app, repo, url } = await servedApp('redeploy')
    const loop = load(url, 1000)
    repo.commit({ 'index.html': 'version two\n' }, 'second version')
    const deployment = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(deployment.state, deployment.reason).toBe('running')
    const result = await loop
    expect(result.failures).toEqual([])
    expect(result.bodies['version two']).toBeGreaterThan(0)
    expect(result.bodies['version one']).toBeGreaterThan(0)
  })

  test('across kill -9 of the agent and its restart', async () => {
    const { url } = await servedApp('agentkill')
    const loop = load(url, 600)
    await host.agent.stop('SIGKILL')
    host.restartAgent()
    await waitFor('the server online again', async () => {
      const server = (await host.api.http.get(`/servers/${host.serverId}`, { token: host.admin })).body.server
      return server.status === 'online' && server.proxy?.kind === 'caddy'
    })
    const result = await loop
    expect(result.failures).toEqual([])
    expect(result.served).toBe(600)
  })

  test('across a restart of the API', async () => {
    const { url } = await servedApp('apirestart')
    const loop = load(url, 600)
    await host.api.halt()
    await host.api.restart()
    const result = await loop
    expect(result.failures).toEqual([])
    expect(result.served).toBe(600)
  })
})

describe('several containers', () => {
  test('instances: 3 share the requests, and a killed one is taken out by the health check', async () => {
    const health_check = { path: '/index.html', interval: 1, timeout: 1, start_period: 0 }
    const { app, url } = await servedApp('three', { instances: 3, health_check })
    const hosts = async () => {
      const seen = new Set<string>()
      for (let i = 0; i < 30; i++) {
        const page = await httpsGet(url.replace(/\/$/, '/host.txt'), { resolveTo: caddy.httpsPort, ca: root })
        expect(page.status).toBe(200)
        seen.add(page.body.trim())
      }
      return seen
    }
    expect((await hosts()).size).toBe(3)

    const running = docker('ps', '-q', '--filter', `label=berth.app=${app.id}`).split('\n').filter(Boolean)
    expect(running).toHaveLength(3)
    docker('kill', running[0] as string)
    const result = await load(url, 300)
    expect(result.failures).toEqual([])
    expect(result.served).toBe(300)
  })
})

describe('streams', () => {
  test('a server-sent event stream through Caddy stays open across a deploy of another app', async () => {
    const events =
      '#!/bin/sh\necho "Content-Type: text/event-stream"\necho\nwhile true; do echo "data: tick"; echo; sleep 0.2; done\n'
    const extra = 'COPY events /www/cgi-bin/events\nRUN chmod 755 /www/cgi-bin/events'
    const { url } = await servedApp('sse', {})
    const { app: streaming } = await host.deployedApp({
      name: 'events',
      files: { Dockerfile: dockerfile(extra), 'index.html': 'version one\n', events },
    })
    const hostname = `${streaming.name}.traffic.test`
    const added = await host.api.http.post(`/apps/${streaming.id}/domains`, {
      token: host.admin,
      body: { hostname, https: 'internal' },
    })
    expect(added.status, added.text).toBe(201)
    await waitFor(`${hostname} to answer`, async () => {
      const page = await httpsGet(`https://${hostname}/`, { resolveTo: caddy.httpsPort, ca: root }).catch(
        () => null,
      )
      return page?.status === 200
    })

    let ticks = 0
    let ended = false
    const request = https.get(`https://${hostname}/cgi-bin/events`, {
      lookup: (_name, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }] as never, 4),
      port: caddy.httpsPort,
      ca: root,
      servername: hostname,
    } as https.RequestOptions)
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      request.once('response', resolve)
      request.once('error', reject)
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/text\/event-stream/)
    response.on('data', (piece: Buffer) => {
      ticks += piece.toString().split('data: tick').length - 1
    })
    response.once('end', () => {
      ended = true
    })
    response.once('close', () => {
      ended = true
    })
    await waitFor('the first events', async () => ticks > 0)

    // Another app's deploy changes Caddy's config (its upstreams); this stream must not notice.
    const other = await host.api.http.get(`/apps?limit=200`, { token: host.admin })
    const sseApp = other.body.apps.find((a: any) => url.includes(a.name))
    const deployment = await host.waitDeployment((await host.deploy(sseApp.id)).id)
    expect(deployment.state, deployment.reason).toBe('running')
    const before = ticks
    await waitFor('events after the deploy', async () => ticks >= before + 5)
    expect(ended).toBe(false)
    request.destroy()
  })
})

describe('an agent that comes back', () => {
  test('takes out the routes of an app deleted while it was away, and only those', async () => {
    const kept = await servedApp('kept')
    const { app, url } = await servedApp('deleted')
    const hostPort = await host.hostPort(app.id)
    await host.agent.stop()
    await waitFor('the server offline', async () => {
      const server = (await host.api.http.get(`/servers/${host.serverId}`, { token: host.admin })).body.server
      return server.status === 'offline'
    })
    const res = await host.api.http.delete(`/apps/${app.id}?force=true`, { token: host.admin })
    expect(res.status, res.text).toBe(204)
    // Caddy serves it all the while: nothing of Berth's is on the app's path.
    expect((await httpsGet(url, { resolveTo: caddy.httpsPort, ca: root })).status).toBe(200)

    host.restartAgent()
    const config = await waitFor('the deleted app out of Caddy', async () => {
      const now = await caddy.config()
      return JSON.stringify(now).includes(app.id) ? undefined : now
    })
    expect(config.apps.http.servers[`berth-port-${hostPort}`]).toBeUndefined()
    const page = await httpsGet(kept.url, { resolveTo: caddy.httpsPort, ca: root })
    expect(page.status).toBe(200)
    expect(page.body).toBe('version one\n')
  })
})
