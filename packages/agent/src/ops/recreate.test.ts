import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { committedImage, createArgs, opCaller, portRange } from '../testing/ops.ts'
import { dockerCli, inspectCli, randomName, TestDocker } from '../testing/test-docker.ts'

// Recreating containers against the host's real Docker Engine, as the API would call the agent.
const fixtures = new TestDocker()
const { call, failureOf } = opCaller()
const images: string[] = []

afterEach(() => fixtures.removeContainers())

afterAll(() => {
  fixtures.removeAll()
  for (const image of images) dockerCli('image', 'rm', '-f', image)
})

/** An image like the test image but without a shell, so a container whose command is `sh` cannot start on it. */
function imageWithoutShell(): string {
  const image = committedImage(fixtures, `${randomName('berth-test-noshell')}:1`, 'rm', '/bin/sh')
  images.push(image)
  return image
}

describe('container.recreate', { timeout: 60_000 }, () => {
  it('replaces a running container with one on the new env, keeping its name, volumes, ports and state', async () => {
    const volume = fixtures.volume()
    const before = await call(
      'container.create',
      createArgs(fixtures, {
        env: { MODE: 'one', KEEP: 'yes' },
        ports: [{ container: 8080, protocol: 'tcp' }],
        volumes: [{ source: volume, target: '/data', readonly: false }],
        resources: { memory: 64 * 1024 * 1024 },
      }),
    )
    dockerCli('exec', before.docker_id, 'sh', '-c', 'echo kept > /data/file')

    const after = await call('container.recreate', {
      ref: before.name,
      env: { MODE: 'two', PATH: '/bin' },
      port_range: portRange(),
    })

    expect(after.docker_id).not.toBe(before.docker_id)
    expect(after).toMatchObject({
      name: before.name,
      status: 'running',
      env: { MODE: 'two', PATH: '/bin' },
      ports: before.ports,
      resources: before.resources,
      labels: before.labels,
      cmd: before.cmd,
    })
    expect(after.env).not.toHaveProperty('KEEP')
    expect(dockerCli('exec', after.docker_id, 'cat', '/data/file')).toBe('kept')
    expect(inspectCli(before.docker_id)).toBeNull()
    expect(fixtures.containerIds()).toEqual([after.docker_id])
  })

  it('keeps a stopped container stopped, and moves it to the ports given', async () => {
    const range = portRange(4)
    const before = await call(
      'container.create',
      createArgs(fixtures, {
        start: false,
        ports: [{ container: 8080, protocol: 'tcp' }],
        port_range: range,
      }),
    )
    const after = await call('container.recreate', {
      ref: before.docker_id,
      ports: [
        { container: 8080, protocol: 'tcp' },
        { host: range.end, container: 9090, protocol: 'tcp' },
      ],
      labels: { ...fixtures.labels, extra: 'label' },
      port_range: range,
    })
    expect(after.status).toBe('created')
    expect(after.labels).toEqual({ ...fixtures.labels, extra: 'label' })
    // The port asked without a host keeps the host port it had.
    expect(after.ports).toEqual([
      { host: before.ports[0]?.host, container: 8080, protocol: 'tcp', host_ip: null },
      { host: range.end, container: 9090, protocol: 'tcp', host_ip: null },
    ])
  })

  it('puts the old container back, running under its name, when the new one cannot start', async () => {
    const image = imageWithoutShell()
    const before = await call('container.create', createArgs(fixtures))
    // The new container keeps the old one's command, `sh`, which this image does not have.
    const failure = await failureOf('container.recreate', {
      ref: before.docker_id,
      image,
      port_range: portRange(),
    })
    expect(failure).toMatchObject({ kind: 'validation_error', message: expect.stringContaining('not found') })
    const now = inspectCli(before.name)
    expect(now).toMatchObject({ Id: before.docker_id, Name: `/${before.name}`, State: { Status: 'running' } })
    expect(fixtures.containerIds()).toEqual([before.docker_id])
  })

  it('leaves the container untouched when the new image is not on the host', async () => {
    const before = await call('container.create', createArgs(fixtures))
    const failure = await failureOf('container.recreate', {
      ref: before.docker_id,
      image: 'berth-test/not-here:2',
      port_range: portRange(),
    })
    expect(failure).toMatchObject({ kind: 'not_found' })
    expect(inspectCli(before.name)).toMatchObject({ Id: before.docker_id, State: { Status: 'running' } })
  })
})
