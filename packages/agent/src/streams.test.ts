import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LinkedAgent } from './testing/test-agent.ts'
import { linkedAgent } from './testing/test-agent.ts'
import { dockerCli, TEST_IMAGE, TestDocker } from './testing/test-docker.ts'

// Streams through the real agent and a stand-in API, from real containers.
const fixtures = new TestDocker()
const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while true; do echo out; echo err >&2; sleep 0.2; done']

let linked: LinkedAgent

beforeEach(async () => {
  linked = await linkedAgent()
})

afterEach(async () => {
  await linked.stop()
  fixtures.removeContainers()
})

afterAll(() => fixtures.removeAll())

function logs(
  id: string,
  ref: string,
  options: { tail?: number | 'all'; follow?: boolean; timeoutMs?: number } = {},
) {
  linked.link.send({
    type: 'call',
    id,
    op: 'container.logs',
    args: { ref, tail: options.tail ?? 'all', timestamps: false, follow: options.follow ?? false },
    timeoutMs: options.timeoutMs ?? 10_000,
  })
}

async function openStreams(): Promise<unknown> {
  const result = await linked.link.call('agent.status', {})
  return result.ok ? (result.data as { open_streams: number }).open_streams : result.error
}

describe('container.logs', { timeout: 30_000 }, () => {
  it('streams the tail of a log split into stdout and stderr, numbered, then ends without a result', async () => {
    const { link } = linked
    const id = fixtures.run(TEST_IMAGE, 'sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2')
    dockerCli('wait', id)

    logs('logs_all', id)
    const end = await link.take('end', (e) => e.id === 'logs_all')
    expect(end).toEqual({ v: 1, type: 'end', id: 'logs_all' })
    expect(link.text('logs_all', 'stdout')).toBe('out1\nout2\n')
    expect(link.text('logs_all', 'stderr')).toBe('err1\nerr2\n')
    const chunks = link.chunks('logs_all')
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i))
    expect(chunks.every((c) => c.encoding === 'utf8')).toBe(true)
    expect(link.count('result', (f) => f.type === 'result' && f.id === 'logs_all')).toBe(0)
  })

  it('streams only the last lines with tail', async () => {
    const id = fixtures.run(TEST_IMAGE, 'sh', '-c', 'echo one; echo two; echo three')
    dockerCli('wait', id)
    logs('logs_tail', id, { tail: 2 })
    await linked.link.take('end', (e) => e.id === 'logs_tail')
    expect(linked.link.text('logs_tail', 'stdout')).toBe('two\nthree\n')
  })

  it('passes the log of a TTY container through raw, as stdout', async () => {
    const id = fixtures.run('-t', TEST_IMAGE, 'sh', '-c', 'echo to-out; echo to-err >&2')
    dockerCli('wait', id)
    logs('logs_tty', id)
    await linked.link.take('end', (e) => e.id === 'logs_tty')
    expect(linked.link.text('logs_tty', 'stdout')).toBe('to-out\r\nto-err\r\n')
    expect(linked.link.text('logs_tty', 'stderr')).toBe('')
  })

  it('sends output that is not UTF-8 as base64', async () => {
    // json-file would have replaced the bytes that are not UTF-8; the local driver keeps them.
    const id = fixtures.run('--log-driver', 'local', TEST_IMAGE, 'printf', '\\377\\376ok')
    dockerCli('wait', id)
    logs('logs_binary', id)
    await linked.link.take('end', (e) => e.id === 'logs_binary')
    const [chunk] = linked.link.chunks('logs_binary')
    expect(chunk).toMatchObject({ stream: 'stdout', encoding: 'base64' })
    expect(Buffer.from(chunk?.data ?? '', 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x6f, 0x6b]))
  })

  it('follows a log past its call timeout until cancelled, then ends it and closes Docker’s stream', async () => {
    const { link } = linked
    const id = fixtures.run(TEST_IMAGE, ...LOOP)
    logs('logs_follow', id, { tail: 0, follow: true, timeoutMs: 200 })
    await expect.poll(() => link.text('logs_follow', 'stderr'), { timeout: 5_000 }).toContain('err\nerr\n')
    expect(link.text('logs_follow', 'stdout')).toContain('out\n')
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(link.count('end')).toBe(0)
    expect(await openStreams()).toBe(1)

    link.send({ type: 'cancel', id: 'logs_follow' })
    expect(await link.take('end', (e) => e.id === 'logs_follow')).toEqual({
      v: 1,
      type: 'end',
      id: 'logs_follow',
    })
    await expect.poll(openStreams).toBe(0)
    const sent = link.chunks('logs_follow').length
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(link.chunks('logs_follow')).toHaveLength(sent)
  })

  it('ends a followed log when the container stops, with its exit code', async () => {
    const id = fixtures.run(TEST_IMAGE, 'sh', '-c', 'echo start; sleep 1; echo bye; exit 5')
    logs('logs_exit', id, { follow: true })
    const end = await linked.link.take('end', (e) => e.id === 'logs_exit')
    expect(end).toMatchObject({ id: 'logs_exit', exitCode: 5 })
    expect(linked.link.text('logs_exit', 'stdout')).toBe('start\nbye\n')
  })

  it('cancels the streams of a link that drops', async () => {
    const id = fixtures.run(TEST_IMAGE, ...LOOP)
    logs('logs_dropped', id, { tail: 0, follow: true })
    await expect.poll(() => linked.link.chunks('logs_dropped').length).toBeGreaterThan(0)
    linked.link.socket.terminate()
    const second = await linked.api.link(1)
    await second.take('hello')
    const status = async () => {
      const result = await second.call('agent.status', {})
      return result.ok && (result.data as { open_streams: number }).open_streams
    }
    await expect.poll(status).toBe(0)
  })

  it('ends with the error when the container does not exist or the arguments are wrong', async () => {
    logs('logs_nobody', 'berth-test-nobody')
    expect(await linked.link.take('end', (e) => e.id === 'logs_nobody')).toMatchObject({
      error: { kind: 'not_found', message: expect.stringContaining('No such container') },
    })
    linked.link.send({
      type: 'call',
      id: 'logs_bad',
      op: 'container.logs',
      args: { ref: 'x' },
      timeoutMs: 5_000,
    })
    expect(await linked.link.take('end', (e) => e.id === 'logs_bad')).toMatchObject({
      error: { kind: 'validation_error' },
    })
  })
})
