import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { committedImage, opCaller } from '../testing/ops.ts'
import { dockerCli, randomName, TEST_IMAGE, TestDocker } from '../testing/test-docker.ts'

// Images, volumes and networks of the host's real Docker Engine.
const fixtures = new TestDocker()
const tags: string[] = []

const { call, failureOf } = opCaller()

afterEach(() => fixtures.removeContainers())
afterAll(() => {
  fixtures.removeAll()
  for (const tag of tags) {
    try {
      dockerCli('image', 'rm', tag)
    } catch {
      // removed by the test
    }
  }
})

/** An image of its own, with one tag: a commit of a container of the test image. */
function ownImage(): string {
  const tag = committedImage(fixtures, `${randomName('berth-test/agent-image')}:v1`, 'true')
  tags.push(tag)
  return tag
}

describe('images', { timeout: 30_000 }, () => {
  it('lists the images with their tags, size and creation time', async () => {
    const { images } = await call('image.list', {})
    const image = images.find((i) => i.tags.includes(TEST_IMAGE))
    expect(image).toMatchObject({ id: expect.stringMatching(/^sha256:/), containers: null })
    expect(image?.size).toBeGreaterThan(0)
    expect(image?.created_at).toBeGreaterThan(Date.UTC(2000, 0, 1))
    expect(images.flatMap((i) => i.tags)).not.toContain('<none>:<none>')
  })

  it('fails a pull from a registry that cannot be reached with agent_error, quickly', async () => {
    const started = performance.now()
    const failure = await failureOf('image.pull', { image: '127.0.0.1:1/berth-test/nothing' }, 20_000)
    expect(failure).toMatchObject({ kind: 'agent_error', message: expect.stringContaining('127.0.0.1:1') })
    expect(performance.now() - started).toBeLessThan(20_000)
  })

  it('refuses to remove an image a container uses, and removes one no container uses', async () => {
    const used = ownImage()
    fixtures.run(used, 'sleep', '60')
    expect(await failureOf('image.remove', { ref: used, force: false })).toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('must force'),
    })
    fixtures.removeContainers()
    const removed = await call('image.remove', { ref: used, force: false })
    expect(removed.untagged).toEqual([used])
    expect(removed.deleted).toEqual([expect.stringMatching(/^sha256:/)])
    expect(await failureOf('image.remove', { ref: used, force: false })).toMatchObject({ kind: 'not_found' })
  })

  it('prunes dangling images', async () => {
    const pruned = await call('image.prune', { all: false })
    expect(pruned.reclaimed_bytes).toBeGreaterThanOrEqual(0)
  })
})

describe('volumes', { timeout: 30_000 }, () => {
  it('creates, lists with use, refuses to remove one in use, and removes', async () => {
    const name = fixtures.volume()
    const { volume } = await call('volume.create', { name, labels: fixtures.labels })
    expect(volume).toMatchObject({ name, driver: 'local', labels: fixtures.labels })
    expect((await call('volume.list', {})).volumes.find((v) => v.name === name)?.in_use).toBe(false)

    fixtures.run('-v', `${name}:/data`, TEST_IMAGE, 'sleep', '60')
    expect((await call('volume.list', {})).volumes.find((v) => v.name === name)).toMatchObject({
      in_use: true,
      mountpoint: expect.stringContaining(name),
    })
    expect(await failureOf('volume.remove', { name, force: false })).toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('volume is in use'),
    })
    fixtures.removeContainers()
    expect(await call('volume.remove', { name, force: false })).toEqual({})
    expect(await failureOf('volume.remove', { name, force: false })).toMatchObject({ kind: 'not_found' })
  })
})

describe('networks', { timeout: 30_000 }, () => {
  it('creates, lists, refuses to remove one in use, and removes', async () => {
    const name = fixtures.network()
    const { network } = await call('network.create', {
      name,
      driver: 'bridge',
      internal: true,
      labels: fixtures.labels,
    })
    expect(network).toMatchObject({
      name,
      driver: 'bridge',
      internal: true,
      scope: 'local',
      labels: fixtures.labels,
    })
    expect((await call('network.list', {})).networks.map((n) => n.id)).toContain(network.id)
    expect(
      await failureOf('network.create', { name, driver: 'bridge', internal: false, labels: {} }),
    ).toMatchObject({
      kind: 'conflict',
    })

    fixtures.run('--network', name, TEST_IMAGE, 'sleep', '60')
    expect(await failureOf('network.remove', { ref: name })).toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('active endpoints'),
    })
    fixtures.removeContainers()
    expect(await call('network.remove', { ref: network.id })).toEqual({})
  })

  it('refuses to remove the built-in networks with state_error', async () => {
    for (const ref of ['bridge', 'host', 'none']) {
      expect(await failureOf('network.remove', { ref })).toEqual({
        kind: 'state_error',
        message: `${ref} is a pre-defined network and cannot be removed`,
      })
    }
  })
})
