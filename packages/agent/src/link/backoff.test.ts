import { describe, expect, it } from 'vitest'
import { backoffDelay, DEFAULT_BACKOFF, wait } from './backoff.ts'

describe('backoffDelay', () => {
  it('waits up to 500 ms doubling per attempt, capped at 30 s', () => {
    const almostOne = () => 0.999_999
    const ceilings = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
    ceilings.forEach((ceiling, attempt) => {
      const longest = backoffDelay(attempt, DEFAULT_BACKOFF, almostOne)
      expect(longest).toBeLessThan(ceiling)
      expect(longest).toBeGreaterThanOrEqual(ceiling - 1)
    })
    expect(backoffDelay(10_000, DEFAULT_BACKOFF, almostOne)).toBeLessThan(30_000)
  })

  it('can wait no time at all: full jitter', () => {
    expect(backoffDelay(5, DEFAULT_BACKOFF, () => 0)).toBe(0)
  })

  it('stays within bounds for random draws', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt)
        expect(delay).toBeGreaterThanOrEqual(0)
        expect(delay).toBeLessThan(Math.min(30_000, 500 * 2 ** attempt))
        expect(Number.isInteger(delay)).toBe(true)
      }
    }
  })

  it('takes its base and cap from the caller', () => {
    expect(backoffDelay(3, { baseMs: 10, capMs: 50 }, () => 0.999_999)).toBe(49)
    expect(backoffDelay(1, { baseMs: 10, capMs: 50 }, () => 0.5)).toBe(10)
  })
})

describe('wait', () => {
  it('ends early when stopped', async () => {
    const stopping = new AbortController()
    const started = Date.now()
    const waited = wait(10_000, stopping.signal)
    stopping.abort()
    await waited
    expect(Date.now() - started).toBeLessThan(1_000)
  })
})
