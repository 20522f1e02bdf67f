import { type ContainerSummary, containerEvent, inventoryEvent } from '@berth/shared'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StandInLink } from './testing/stand-in-api.ts'
import { type LinkedAgent, linkedAgent } from './testing/test-agent.ts'
import { dockerCli, TEST_IMAGE, TestDocker } from './testing/test-docker.ts'

// The agent reports containers from real Docker events to a stand-in API.
const fixtures = new TestDocker()
let linked: LinkedAgent

beforeEach(async () => {
  linked = await linkedAgent()
})

afterEach(async () => {
  await linked.stop()
  fixtures.removeContainers()
})

afterAll(() => fixtures.removeAll())

async function inventory(link: StandInLink): Promise<ContainerSummary[]> {
  const frame = await link.take('event', (e) => e.kind === 'inventory')
  return inventoryEvent.parse(frame.data).containers
}

/** The container events about `id`, parsed, in the order they came. */
function eventsAbout(link: StandInLink, id: string) {
  return link.frames.flatMap((f) => {
    if (f.type !== 'event' || f.kind !== 'container') return []
    const event = containerEvent.parse(f.data)
    return event.docker_id === id ? [event] : []
  })
}

describe('inventory and container events', { timeout: 30_000 }, () => {
  it('sends the inventory of every container once welcomed', async () => {
    const running = fixtures.run(TEST_IMAGE, 'sleep', '60')
    const created = dockerCli('create', ...fixtures.labelArgs(), TEST_IMAGE, 'true')
    // The link of beforeEach came up before these existed: drop it and look at the next one's inventory.
    linked.link.socket.terminate()
    const link = await linked.api.link(1)
    const containers = await inventory(link)
    expect(containers.find((c) => c.docker_id === running)).toMatchObject({
      status: 'running',
      image: TEST_IMAGE,
      labels: fixtures.labels,
    })
    expect(containers.find((c) => c.docker_id === created)).toMatchObject({
      status: 'created',
      started_at: null,
    })
  })

  it('reports a docker run and a docker rm done outside the agent, one burst as one event', async () => {
    const { link } = linked
    await inventory(link)
    const id = fixtures.run(TEST_IMAGE, 'sleep', '60')
    await expect
      .poll(() => eventsAbout(link, id).at(-1))
      .toMatchObject({ action: 'start', container: { docker_id: id, status: 'running' } })
    // create and start: Docker sends two events, often a network connect between them.
    expect(eventsAbout(link, id).length).toBeLessThanOrEqual(2)

    dockerCli('rm', '-f', id)
    await expect
      .poll(() => eventsAbout(link, id).at(-1))
      .toEqual({ action: 'destroy', docker_id: id, container: null })
  })

  it('keeps the last action of a burst and the state after it', async () => {
    const { link } = linked
    await inventory(link)
    const id = fixtures.run(TEST_IMAGE, 'sleep', '60')
    await expect.poll(() => eventsAbout(link, id).length).toBeGreaterThan(0)
    const before = eventsAbout(link, id).length
    dockerCli('pause', id)
    dockerCli('unpause', id)
    await expect.poll(() => eventsAbout(link, id).at(-1)?.action).toBe('unpause')
    expect(eventsAbout(link, id).at(-1)?.container?.status).toBe('running')
    expect(eventsAbout(link, id).length - before).toBeLessThanOrEqual(2)
  })
})
