import { describe, expect, test } from 'vitest'
import { ChunkQueue } from './stream.ts'

const chunk = (bytes: number) => ({
  stream: 'stdout' as const,
  data: 'x'.repeat(bytes),
  encoding: 'utf8' as const,
})

/** A queue that records the credits it gives back, batched by `creditBatch` bytes. */
function creditedQueue(creditBatch: number) {
  const credits: number[] = []
  const queue = new ChunkQueue(
    () => {},
    () => {},
    { credit: (bytes) => credits.push(bytes), creditBatch },
  )
  return { queue, credits }
}

/** A queue that cuts off a reader stalled for 50 ms, and says whether it cancelled the work. */
function stallingQueue() {
  const state = { cancelled: false }
  const queue = new ChunkQueue(
    () => {
      state.cancelled = true
    },
    () => {},
    { stallMs: 50 },
  )
  return { queue, state }
}

describe('a stream’s flow control', () => {
  test('what the reader takes is credited back in batches, and the rest once it has taken all', async () => {
    const { queue, credits } = creditedQueue(100)
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
    const { queue, credits } = creditedQueue(1)
    for (let i = 0; i < 10; i++) queue.push(chunk(1000))
    expect(credits).toEqual([])
    queue.cancel()
  })

  test('a reader that takes nothing past the stall bound is cut off and the work is cancelled', async () => {
    const { queue, state } = stallingQueue()
    queue.push(chunk(10))
    await new Promise((r) => setTimeout(r, 120))
    expect(state.cancelled).toBe(true)
    const reader = queue[Symbol.asyncIterator]()
    // What was queued is still there to read; then the stream fails with why it was cut off.
    expect((await reader.next()).done).toBe(false)
    await expect(reader.next()).rejects.toMatchObject({ kind: 'timeout', code: 'reader_stalled' })
  })

  test('a reader that keeps taking is never cut off', async () => {
    const { queue, state } = stallingQueue()
    const reader = queue[Symbol.asyncIterator]()
    for (let i = 0; i < 10; i++) {
      queue.push(chunk(10))
      await reader.next()
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(state.cancelled).toBe(false)
    queue.end(0)
  })
})
