import { describe, expect, test } from 'vitest'
import { ChunkQueue } from './stream.ts'

const chunk = (bytes: number) => ({
  stream: 'stdout' as const,
  data: 'x'.repeat(bytes),
  encoding: 'utf8' as const,
})

describe('a stream’s flow control', () => {
  test('what the reader takes is credited back in batches, and the rest once it has taken all', async () => {
    const credits: number[] = []
    const queue = new ChunkQueue(
      () => {},
      () => {},
      { credit: (bytes) => credits.push(bytes), creditBatch: 100 },
    )
    for (let i = 0; i < 5; i++) queue.push(chunk(40))
    const reader = queue[Symbol.asyncIterator]()
    for (let i = 0; i < 5; i++) await reader.next()
    // 40+40+40 reaches the batch; the last 80 go back when the reader waits for more.
    const waiting = reader.next()
    await new Promise((r) => setTimeout(r, 10))
    expect(credits).toEqual([120, 80])
    queue.end(0)
    expect((await waiting).done).toBe(true)
  })

  test('nothing is credited for output the reader has not taken', async () => {
    const credits: number[] = []
    const queue = new ChunkQueue(
      () => {},
      () => {},
      { credit: (bytes) => credits.push(bytes), creditBatch: 1 },
    )
    for (let i = 0; i < 10; i++) queue.push(chunk(1000))
    expect(credits).toEqual([])
    queue.cancel()
  })

  test('a reader that takes nothing past the stall bound is cut off and the work is cancelled', async () => {
    let cancelled = false
    const queue = new ChunkQueue(
      () => {
        cancelled = true
      },
      () => {},
      { stallMs: 50 },
    )
    queue.push(chunk(10))
    await new Promise((r) => setTimeout(r, 120))
    expect(cancelled).toBe(true)
    const reader = queue[Symbol.asyncIterator]()
    // What was queued is still there to read; then the stream fails with why it was cut off.
    expect((await reader.next()).done).toBe(false)
    await expect(reader.next()).rejects.toMatchObject({ kind: 'timeout', code: 'reader_stalled' })
  })

  test('a reader that keeps taking is never cut off', async () => {
    let cancelled = false
    const queue = new ChunkQueue(
      () => {
        cancelled = true
      },
      () => {},
      { stallMs: 50 },
    )
    const reader = queue[Symbol.asyncIterator]()
    for (let i = 0; i < 10; i++) {
      queue.push(chunk(10))
      await reader.next()
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(cancelled).toBe(false)
    queue.end(0)
  })
})
