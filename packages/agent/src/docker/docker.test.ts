import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { connectDocker, DockerError, engineOptions } from './index.ts'

describe('connectDocker', () => {
  it('talks to the real engine through a socket path or a unix:// address', async () => {
    const { stdout } = await promisify(execFile)('docker', ['version', '--format', '{{.Server.Version}}'])
    expect(await connectDocker('/var/run/docker.sock').version()).toBe(stdout.trim())
    expect(await connectDocker('unix:///var/run/docker.sock').version()).toBe(stdout.trim())
    const info = await connectDocker().info()
    expect(info.rootDir).toMatch(/^\//)
    expect(info.running).toBeLessThanOrEqual(info.containers)
  })

  it('says where it could not reach Docker', async () => {
    const docker = connectDocker('tcp://127.0.0.1:1')
    const failure = await docker.ping().catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(DockerError)
    expect(failure).toMatchObject({ status: null })
    expect(String(failure)).toContain('cannot reach Docker at tcp://127.0.0.1:1')
  })

  it('refuses an inspect that is not shaped as Docker’s, from a stand-in engine', async () => {
    const real = await connectDocker().inspectContainer(
      (await promisify(execFile)('docker', ['create', 'berth-test/busybox:latest', 'true'])).stdout.trim(),
    )
    await promisify(execFile)('docker', ['rm', real.Id])
    const replies: unknown[] = [
      real,
      { ...real, State: { ...real.State, Status: 'sleeping' } },
      { ...real, Config: null },
      { ...real, Mounts: 'none' },
      [],
    ]
    const engine = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify(replies.shift()))
    })
    await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve))
    try {
      const docker = connectDocker(`tcp://127.0.0.1:${(engine.address() as AddressInfo).port}`)
      expect((await docker.inspectContainer('c')).Id).toBe(real.Id)
      for (let i = 0; i < 4; i++) {
        const failure = await docker.inspectContainer('c').catch((err: unknown) => err)
        expect(failure).toBeInstanceOf(DockerError)
        expect(String(failure)).toContain('sent an unexpected reply')
      }
    } finally {
      engine.close()
    }
  })
})

describe('engineOptions', () => {
  it('reads socket paths and tcp addresses, overriding DOCKER_HOST', () => {
    expect(engineOptions('/run/docker.sock')).toMatchObject({
      socketPath: '/run/docker.sock',
      host: undefined,
    })
    expect(engineOptions('unix:///run/docker.sock')).toMatchObject({ socketPath: '/run/docker.sock' })
    expect(engineOptions('tcp://10.0.0.2:2375')).toMatchObject({
      protocol: 'http',
      host: '10.0.0.2',
      port: '2375',
    })
    expect(engineOptions('tcp://docker')).toMatchObject({ host: 'docker', port: 2375 })
    expect(engineOptions('https://docker:2376')).toMatchObject({ protocol: 'https', host: 'docker' })
  })

  it('refuses what it cannot use', () => {
    expect(() => engineOptions('docker.sock')).toThrow('unsupported Docker address "docker.sock"')
    expect(() => engineOptions('ssh://me@host')).toThrow('unix socket path or tcp://host:port')
  })
})
