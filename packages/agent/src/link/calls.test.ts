import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { OpError } from '../errors.ts'
import { CallBook } from './calls.ts'

const call = (id: string, timeoutMs = 5_000) => ({ id, op: 'docker.ping', timeoutMs })

describe('CallBook', () => {
  it('runs a call id once and answers repeats from the first run', async () => {
    const book = new CallBook()
    let runs = 0
    const work = async () => {
      runs++
      await sleep(20)
      return { run: runs }
    }
    const first = book.run(call('call_a'), work)
    const whileRunning = book.run(call('call_a'), work)
    expect(first.seen).toBe('new')
    expect(whileRunning.seen).toBe('running')
    expect(await first.outcome).toEqual({ ok: true, data: { run: 1 } })
    expect(await whileRunning.outcome).toEqual({ ok: true, data: { run: 1 } })

    const afterwards = book.run(call('call_a'), work)
    expect(afterwards).toEqual({ seen: 'answered', outcome: { ok: true, data: { run: 1 } } })
    expect(runs).toBe(1)
    expect(book.runningCount).toBe(0)
  })

  it('answers a call that outlives its timeout with a timeout error and aborts its work', async () => {
    const book = new CallBook()
    let signal: AbortSignal | undefined
    const run = book.run(call('call_slow', 30), (s) => {
      signal = s
      return new Promise(() => {})
    })
    expect(await run.outcome).toEqual({
      ok: false,
      error: { kind: 'timeout', message: 'docker.ping did not finish within 30 ms' },
    })
    expect(signal?.aborted).toBe(true)
    expect(book.runningCount).toBe(0)
  })

  it('aborts a cancelled call', async () => {
    const book = new CallBook()
    const run = book.run(call('call_cancel'), (signal) => sleep(10_000, null, { signal }))
    expect(book.cancel('call_cancel')).toBe(true)
    expect(await run.outcome).toEqual({
      ok: false,
      error: { kind: 'agent_error', message: 'the call was cancelled' },
    })
    expect(book.cancel('call_cancel')).toBe(false)
  })

  it('reports failures with their kind', async () => {
    const book = new CallBook()
    const refused = book.run(call('call_refused'), async () => {
      throw new OpError('conflict', 'already there')
    })
    const broken = book.run(call('call_broken'), () => {
      throw new Error('boom')
    })
    expect(await refused.outcome).toEqual({
      ok: false,
      error: { kind: 'conflict', message: 'already there' },
    })
    expect(await broken.outcome).toEqual({
      ok: false,
      error: { kind: 'agent_error', message: 'boom' },
    })
  })

  it('remembers the last answers only, oldest forgotten first', async () => {
    const book = new CallBook({ maxResults: 2, maxAgeMs: 60_000 })
    for (const id of ['call_1', 'call_2', 'call_3']) {
      const run = book.run(call(id), async () => id)
      await run.outcome
    }
    expect(book.run(call('call_1'), async () => 'again').seen).toBe('new')
    expect(book.run(call('call_3'), async () => 'again').seen).toBe('answered')
  })

  it('forgets answers older than its limit', async () => {
    let now = 0
    const book = new CallBook({ maxResults: 1_000, maxAgeMs: 10 * 60_000 }, () => now)
    const run = book.run(call('call_old'), async () => 'first')
    await run.outcome
    now += 10 * 60_000
    expect(book.run(call('call_old'), async () => 'second').seen).toBe('answered')
    now += 1
    const again = book.run(call('call_old'), async () => 'second')
    expect(again.seen).toBe('new')
    expect(await again.outcome).toEqual({ ok: true, data: 'second' })
  })

  it('drains: waits for running calls, then aborts those that take too long', async () => {
    const book = new CallBook()
    const quick = book.run(call('call_quick'), () => sleep(10, 'done'))
    const stuck = book.run(call('call_stuck'), () => new Promise(() => {}))
    await book.drain(50, 'the agent is stopping')
    expect(await quick.outcome).toEqual({ ok: true, data: 'done' })
    expect(await stuck.outcome).toEqual({
      ok: false,
      error: { kind: 'agent_error', message: 'the agent is stopping' },
    })
    expect(book.runningCount).toBe(0)
  })
})
