import net from 'node:net'
import { describe, expect, test } from 'vitest'
import { appHost, containersOf } from './support/apps.ts'
import { dockerInspect } from './support/docker.ts'
import { expectErrorBody } from './support/flows.ts'
import { freePort, waitFor } from './support/process.ts'

// Raw TCP/UDP ports (a game server's): Docker publishes them itself, no Berth process or Caddy
// on their path. A redeploy frees them before the new container starts: a short gap, documented.

const host = appHost()

/** Sends a plain HTTP request over a raw TCP connection and returns what came back. */
function rawGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let text = ''
    socket.on('data', (d) => {
      text += String(d)
    })
    socket.once('end', () => resolve(text))
    socket.once('error', reject)
    socket.end('GET / HTTP/1.0\r\n\r\n')
  })
}

describe('an app with a raw port', () => {
  test('Docker publishes it on the host, and a redeploy moves it to the new container', async () => {
    const port = await freePort()
    const { app, repo, deployment } = await host.deployedApp({
      name: 'raw',
      body: { ports: [{ host: port, container: 3000, protocol: 'tcp' }] },
    })
    expect(app.ports).toEqual([{ host: port, container: 3000, protocol: 'tcp' }])
    expect(await rawGet(port)).toMatch(/version one/)
    const [first] = containersOf(deployment.id)
    expect(dockerInspect(first as string)?.HostConfig.PortBindings).toEqual({
      '3000/tcp': [{ HostIp: '', HostPort: String(port) }],
    })

    repo.commit({ 'index.html': 'version two\n' }, 'second version')
    const second = await host.waitDeployment((await host.deploy(app.id)).id)
    expect(second.state, second.reason).toBe('running')
    await waitFor('the raw port to answer with version two', async () =>
      /version two/.test(await rawGet(port).catch(() => '')),
    )
    const logs = (await host.api.http.get(`/deployments/${second.id}/logs`, { token: host.admin })).body
      .lines as any[]
    expect(logs.map((l) => l.text)).toContain("stopped 1 container(s) to free the app's raw ports")
  })

  test('more than one instance with raw ports is a 400', async () => {
    const port = await freePort()
    const res = await host.api.http.post('/apps', {
      token: host.admin,
      body: {
        name: host.appName('rawtwo'),
        server_id: host.serverId,
        source: { type: 'image', image: 'busybox' },
        instances: 2,
        ports: [{ host: port, container: 3000 }],
      },
    })
    expectErrorBody(res, 400, 'validation_error')
    expect(JSON.stringify(res.body.details)).toMatch(/one instance/)
  })
})
