import { describe, expect, test } from 'vitest'
import { LogBuffer } from './log-buffer.ts'

describe('LogBuffer', () => {
  test('keeps the last lines up to its cap, oldest first, numbered since the start', () => {
    const buffer = new LogBuffer(3)
    for (let i = 1; i <= 5; i++) buffer.push(i % 2 ? 'stdout' : 'stderr', `line ${i}`)
    expect(buffer.size).toBe(3)
    expect(buffer.total).toBe(5)
    expect([0, 1, 2].map((i) => buffer.at(i))).toEqual([
      { n: 3, stream: 'stdout', text: 'line 3' },
      { n: 4, stream: 'stderr', text: 'line 4' },
      { n: 5, stream: 'stdout', text: 'line 5' },
    ])
  })

  test('finds the held lines that contain a text, whatever its case', () => {
    const buffer = new LogBuffer(4)
    for (const text of ['GET /a', 'error: x', 'get /b', 'Error again', 'done']) buffer.push('stdout', text)
    expect(buffer.matching('ERROR')).toEqual([0, 2])
    expect(buffer.matching('get')).toEqual([1])
  })

  test('clear empties it and numbering goes on', () => {
    const buffer = new LogBuffer(2)
    buffer.push('stdout', 'a')
    buffer.clear()
    buffer.push('stdout', 'b')
    expect(buffer.size).toBe(1)
    expect(buffer.at(0)).toEqual({ n: 2, stream: 'stdout', text: 'b' })
  })
})
