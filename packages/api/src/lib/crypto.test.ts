import { describe, expect, test } from 'vitest'
import { hashPassword, newSecretToken, sha256Hex, timingSafeEqual, verifyPassword } from './crypto.ts'

describe('passwords', () => {
  test('a hash verifies its password only', async () => {
    const stored = await hashPassword('correct horse')
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$[\w-]{22}\$[\w-]{43}$/)
    expect(await verifyPassword('correct horse', stored)).toBe(true)
    expect(await verifyPassword('correct horse!', stored)).toBe(false)
    expect(await verifyPassword('correct horse', 'md5$garbage')).toBe(false)
  })

  test('each hash has its own salt', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')])
    expect(a).not.toBe(b)
  })
})

test('tokens carry their kind and 256 random bits', () => {
  const token = newSecretToken('berth_pat')
  expect(token).toMatch(/^berth_pat_[\w-]{43}$/)
  expect(newSecretToken('berth_pat')).not.toBe(token)
})

test('sha256 matches the known digest', async () => {
  expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
})

test('timingSafeEqual compares whole strings', () => {
  expect(timingSafeEqual('abc', 'abc')).toBe(true)
  expect(timingSafeEqual('abc', 'abd')).toBe(false)
  expect(timingSafeEqual('abc', 'abcd')).toBe(false)
  expect(timingSafeEqual('', '')).toBe(true)
})
