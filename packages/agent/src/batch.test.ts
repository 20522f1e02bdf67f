import { describe, expect, it } from 'vitest'
import { OutputBatcher } from './batch.ts'

describe('output batching', () => {
  it('gathers small pieces into one chunk, in order, and splits at a change of stream', async () => {
    const sent: [string, string][] = []
    const batch = new OutputBatcher(async (stream, data) => {
      sent.push([stream, data.toString()])
    }, 1024)
    await batch.push('stdout', 'a\n')
    await batch.push('stdout', 'b\n')
    await batch.push('stderr', 'oops\n')
    await batch.push('stdout', 'c\n')
    await batch.flush()
    expect(sent).toEqual([
      ['stdout', 'a\nb\n'],
      ['stderr', 'oops\n'],
      ['stdout', 'c\n'],
    ])
  })

  it('sends a full chunk at once, and a lone line after the delay without a flush', async () => {
    const sent: string[] = []
    const batch = new OutputBatcher(
      async (_stream, data) => {
        sent.push(data.toString())
      },
      4,
      5,
    )
    await batch.push('stdout', '1234')
    expect(sent).toEqual(['1234'])
    await batch.push('stdout', 'x')
    await new Promise((r) => setTimeout(r, 30))
    expect(sent).toEqual(['1234', 'x'])
  })
})
