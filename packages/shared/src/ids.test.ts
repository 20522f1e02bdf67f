import { expect, test } from 'vitest'
import { newId } from './ids.ts'

test('ids carry their prefix and sort in creation order, even within one millisecond', () => {
  const ids = Array.from({ length: 1000 }, () => newId('server', 1_700_000_000_000))
  expect(ids[0]).toMatch(/^srv_[0-9a-z]{26}$/)
  expect([...ids].sort()).toEqual(ids)
  expect(new Set(ids).size).toBe(ids.length)
  expect(newId('server', 1_700_000_000_001) > ids[999]!).toBe(true)
})
