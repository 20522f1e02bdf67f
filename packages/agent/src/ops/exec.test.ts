import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectDocker, type Docker, type TtySize } from '../docker/index.ts'
import { type LinkedAgent, linkedAgent } from '../testing/test-agent.ts'
import { dockerCli, TEST_IMAGE, TestDocker } from '../testing/test-docker.ts'
import { newRuntime, runStreamOp } from './index.ts'

// Processes run in real containers through the real agent and a stand-in API.
const fixtures = new TestDocker()
let linked: LinkedAgent
let container: string
let calls = 0

beforeAll(async () => {
  container = fixtures.run(TEST_IMAGE, 'sleep', '3600')
  linked = await linkedAgent()
})

afterAll(async () => {
  await linked?.stop()
  fixtures.removeAll()
})

/** Starts an exec in the test container; returns its stream id. */
function exec(cmd: string[], options: { tty?: boolean; cols?: number; rows?: number; ref?: string } = {}) {
  const id = `exec_${++calls}`
  const { tty = false, ref = container, ...size } = options
  linked.link.send({
    type: 'call',
    id,
    op: 'container.exec',
    args: { ref, cmd, tty, env: {}, ...size },
    timeoutMs: 1_000,
  })
  return id
}

const ended = (id: string, timeoutMs = 10_000) => linked.link.take('end', (e) => e.id === id, timeoutMs)
const stdout = (id: string) => linked.link.text(id, 'stdout')
const bytes = (id: string) =>
  Buffer.concat(linked.link.chunks(id).map((c) => Buffer.from(c.data, c.encoding ?? 'utf8')))
const processes = () => dockerCli('top', container)

describe('container.exec', { timeout: 30_000 }, () => {
  it('runs a command and ends with its output, base64 in every chunk, and exit code 0', async () => {
    const id = exec(['echo', 'hi'])
    expect(await ended(id)).toEqual({ v: 1, type: 'end', id, exitCode: 0 })
    expect(stdout(id)).toBe('hi\n')
    expect(linked.link.chunks(id).every((c) => c.encoding === 'base64')).toBe(true)
  })

  it('keeps stderr apart from stdout without a tty', async () => {
    const id = exec(['sh', '-c', 'echo out; echo err >&2'])
    await ended(id)
    expect(stdout(id)).toBe('out\n')
    expect(linked.link.text(id, 'stderr')).toBe('err\n')
  })

  it('ends with the exit code of a process that fails', async () => {
    const id = exec(['sh', '-c', 'exit 3'])
    expect(await ended(id)).toMatchObject({ exitCode: 3 })
  })

  it('runs as the user, in the directory and with the environment asked for', async () => {
    const id = `exec_${++calls}`
    linked.link.send({
      type: 'call',
      id,
      op: 'container.exec',
      args: {
        ref: container,
        cmd: ['sh', '-c', 'id -u; pwd; echo "$GREETING"'],
        tty: false,
        user: '65534',
        workdir: '/tmp',
        env: { GREETING: 'hello there' },
      },
      timeoutMs: 1_000,
    })
    expect(await ended(id)).toMatchObject({ exitCode: 0 })
    expect(stdout(id)).toBe('65534\n/tmp\nhello there\n')
  })

  it('writes input to the process, as text or base64, and a cancel kills it', async () => {
    const id = exec(['cat'])
    linked.link.send({ type: 'input', id, data: 'typed\n' })
    linked.link.send({
      type: 'input',
      id,
      data: Buffer.from('encoded\n').toString('base64'),
      encoding: 'base64',
    })
    await expect.poll(() => stdout(id)).toBe('typed\nencoded\n')
    linked.link.send({ type: 'cancel', id })
    expect(await ended(id)).toEqual({ v: 1, type: 'end', id })
    await expect.poll(processes).not.toMatch(/\bcat\b/)
  })

  it('passes every byte value through input and output unchanged', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const id = exec(['head', '-c', '256'])
    linked.link.send({ type: 'input', id, data: all.toString('base64'), encoding: 'base64' })
    expect(await ended(id)).toMatchObject({ exitCode: 0 })
    expect(bytes(id)).toEqual(all)
  })

  it('sends binary output intact', async () => {
    const id = exec(['sh', '-c', 'head -c 4096 /dev/urandom | tee /tmp/random'])
    expect(await ended(id)).toMatchObject({ exitCode: 0 })
    const written = Buffer.from(
      dockerCli('exec', container, 'base64', '/tmp/random').replace(/\s/g, ''),
      'base64',
    )
    expect(written).toHaveLength(4096)
    expect(bytes(id)).toEqual(written)
  })

  it('gives a tty the size asked for at the start and on resize', async () => {
    const id = exec(['sh', '-c', 'while :; do stty size; sleep 0.1; done'], {
      tty: true,
      cols: 100,
      rows: 30,
    })
    await expect.poll(() => stdout(id)).toContain('30 100\r\n')
    linked.link.send({ type: 'resize', id, cols: 120, rows: 40 })
    await expect.poll(() => stdout(id)).toContain('40 120\r\n')
    linked.link.send({ type: 'cancel', id })
    await ended(id)
  })

  it('runs what is typed after a resize at the new size, however long Docker takes to resize', async () => {
    const engine = connectDocker()
    // The real engine, with every resize answered 300 ms late, as a loaded engine may.
    const slowResize: Docker = {
      ...engine,
      resizeExec: async (id, size, signal) => {
        await sleep(300)
        return engine.resizeExec(id, size, signal)
      },
    }
    const output: Buffer[] = []
    // What the agent listens with once the exec has its first size.
    let type: ((data: Buffer) => void) | undefined
    let resize: ((size: TtySize) => void) | undefined
    const run = runStreamOp(
      'container.exec',
      { ref: container, cmd: ['sh'], tty: true, env: {}, cols: 100, rows: 30 },
      {
        docker: slowResize,
        signal: new AbortController().signal,
        agent: newRuntime(),
        log: () => {},
        emit: async (_stream, data) => void output.push(Buffer.from(data)),
        onInput: (listener) => {
          type = listener
        },
        onResize: (listener) => {
          resize = listener
        },
        onSignal: () => {},
      },
    )
    await expect.poll(() => type !== undefined && resize !== undefined).toBe(true)
    resize?.({ cols: 120, rows: 40 })
    type?.(Buffer.from('stty size; exit 7\n'))
    expect(await run).toEqual({ exitCode: 7 })
    expect(Buffer.concat(output).toString()).toContain('40 120')
  })

  it('stops a process with INT', async () => {
    const id = exec(['sh', '-c', 'echo ready; exec sleep 1000'])
    await expect.poll(() => stdout(id)).toBe('ready\n')
    linked.link.send({ type: 'signal', id, name: 'INT' })
    expect(await ended(id)).toMatchObject({ exitCode: 130 })
  })

  it('stops a process with a signal sent the moment it is asked for', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = exec(['sleep', '1003'])
      linked.link.send({ type: 'signal', id, name: 'INT' })
      expect(await ended(id, 5_000)).toMatchObject({ exitCode: 130 })
    }
    expect(processes()).not.toContain('sleep 1003')
  })

  it('stops the foreground of a tty with INT, as ^C would', async () => {
    const id = exec(['sh', '-c', 'echo ready; sleep 1001; echo survived'], { tty: true })
    await expect.poll(() => stdout(id)).toBe('ready\r\n')
    linked.link.send({ type: 'signal', id, name: 'INT' })
    expect(await ended(id)).toMatchObject({ exitCode: 130 })
    expect(stdout(id)).not.toContain('survived')
    await expect.poll(processes).not.toContain('sleep 1001')
  })

  it('kills a running process when the stream is cancelled, with a tty or without', async () => {
    for (const tty of [false, true]) {
      const id = exec(['sh', '-c', 'echo ready; sleep 1002'], { tty })
      await expect.poll(() => stdout(id)).toMatch(/^ready/)
      expect(processes()).toContain('sleep 1002')
      linked.link.send({ type: 'cancel', id })
      await ended(id)
      await expect.poll(processes).not.toContain('sleep 1002')
    }
  })

  it('refuses a container that is not running, and one that does not exist', async () => {
    const stopped = fixtures.run(TEST_IMAGE, 'true')
    dockerCli('wait', stopped)
    const id = exec(['echo', 'hi'], { ref: stopped })
    expect(await ended(id)).toMatchObject({ error: { kind: 'state_error' } })
    const nobody = exec(['echo', 'hi'], { ref: 'berth-test-nobody' })
    expect(await ended(nobody)).toMatchObject({ error: { kind: 'not_found' } })
  })
})
