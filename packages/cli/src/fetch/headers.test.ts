import { expect, test } from 'vitest'
import { LightHeaders } from './headers.ts'

// The bundle's Headers must read as the platform's does wherever the CLI or hono's client uses one.
const both = (init?: ConstructorParameters<typeof Headers>[0]) => [
  new Headers(init),
  new LightHeaders(init as never),
]

test('names compare without case, appended values join, entries come sorted and lower-cased', () => {
  for (const headers of both({ 'Content-Type': 'application/json' })) {
    headers.append('X-Many', 'a')
    headers.append('x-many', 'b')
    headers.set('Authorization', 'Bearer t')
    expect(headers.get('content-type')).toBe('application/json')
    expect(headers.get('X-MANY')).toBe('a, b')
    expect(headers.has('authorization')).toBe(true)
    headers.delete('AUTHORIZATION')
    expect(headers.get('Authorization')).toBeNull()
    expect([...headers]).toEqual([
      ['content-type', 'application/json'],
      ['x-many', 'a, b'],
    ])
    expect(Object.fromEntries(headers)).toEqual({ 'content-type': 'application/json', 'x-many': 'a, b' })
  }
})

test('is made from a record, pairs or another Headers alike', () => {
  const from = [{ A: '1' }, [['A', '1']] as [string, string][], new Headers({ A: '1' })]
  for (const init of from) for (const headers of both(init)) expect([...headers]).toEqual([['a', '1']])
})
