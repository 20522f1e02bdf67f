import { describe, expect, test } from 'vitest'
import { SharedStreams } from './shared.ts'
import { ChunkQueue } from './stream.ts'

const chunk = (data: string) => ({ stream: 'stdout' as const, data, encoding: 'utf8' as const })

/** A stream as the host sends it, and how many times it was started and cancelled. */
function host() {
  const state = { started: 0, cancelled: 0, upstream: null as ChunkQueue | null }
  const open = () => {
    state.started++
    state.upstream = new ChunkQueue(() => {
      state.cancelled++
    })
    return state.upstream
  }
  return { state, open }
}

const next = async (reader: AsyncIterator<{ data: string }>) => (await reader.next()).value?.data

describe('a stream shared by many readers', () => {
  test('starts once on the host, and every reader gets what arrives after it joined', async () => {
    const shared = new SharedStreams()
    const { state, open } = host()
    const first = shared.join('logs', open, 10_000)[Symbol.asyncIterator]()
    state.upstream!.push(chunk('a'))
    expect(await next(first)).toBe('a')
    const second = shared.join('logs', open, 10_000)[Symbol.asyncIterator]()
    state.upstream!.push(chunk('b'))
    expect(await next(first)).toBe('b')
    expect(await next(second)).toBe('b')
    expect(state.started).toBe(1)
    expect(shared.size).toBe(1)
  })

  test('stops on the host when the last reader leaves, not before', async () => {
    const shared = new SharedStreams()
    const { state, open } = host()
    const a = shared.join('logs', open, 10_000)
    const b = shared.join('logs', open, 10_000)
    a.cancel()
    expect(state.cancelled).toBe(0)
    b.cancel()
    expect(state.cancelled).toBe(1)
    expect(shared.size).toBe(0)
    // The next reader starts a fresh stream.
    shared.join('logs', open, 10_000)
    expect(state.started).toBe(2)
  })

  test('a reader that takes nothing is cut off alone; the others go on', async () => {
    const shared = new SharedStreams()
    const { state, open } = host()
    const stalled = shared.join('logs', open, 50)[Symbol.asyncIterator]()
    const reading = shared.join('logs', open, 50)[Symbol.asyncIterator]()
    state.upstream!.push(chunk('a'))
    expect(await next(reading)).toBe('a')
    await expect.poll(() => shared.readers('logs')).toBe(1)
    expect(await next(stalled)).toBe('a')
    await expect(stalled.next()).rejects.toMatchObject({ code: 'reader_stalled' })
    state.upstream!.push(chunk('b'))
    expect(await next(reading)).toBe('b')
    expect(state.cancelled).toBe(0)
  })

  test('the end of the stream on the host ends every reader', async () => {
    const shared = new SharedStreams()
    const { state, open } = host()
    const a = shared.join('logs', open, 10_000)[Symbol.asyncIterator]()
    const b = shared.join('logs', open, 10_000)[Symbol.asyncIterator]()
    state.upstream!.end(0)
    expect((await a.next()).done).toBe(true)
    expect((await b.next()).done).toBe(true)
    expect(shared.size).toBe(0)
  })
})
