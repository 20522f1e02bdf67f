import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import {
  generateSshKey,
  hashPassword,
  hmacSha256Hex,
  newSecretToken,
  seal,
  sha256Hex,
  timingSafeEqual,
  unseal,
  verifyPassword,
} from './crypto.ts'

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

describe('secrets at rest', () => {
  const key = 'k'.repeat(43)

  test('a sealed value opens with its key and context, and never shows the clear text', async () => {
    const sealed = await seal(key, 'hunter2-password', 'app_1/DB_PASSWORD')
    expect(sealed).toMatch(/^v1\.[\w-]{16}\.[\w-]+$/)
    expect(sealed).not.toContain('hunter2')
    expect(await unseal(key, sealed, 'app_1/DB_PASSWORD')).toBe('hunter2-password')
    await expect(unseal(key, sealed, 'app_2/DB_PASSWORD')).rejects.toThrow()
    await expect(unseal('x'.repeat(43), sealed, 'app_1/DB_PASSWORD')).rejects.toThrow()
  })

  test('each value gets its own IV', async () => {
    const [a, b] = await Promise.all([seal(key, 'same', 'c'), seal(key, 'same', 'c')])
    expect(a).not.toBe(b)
  })
})

test('HMAC-SHA256 matches the RFC 4231 vector', async () => {
  const data = new TextEncoder().encode('what do ya want for nothing?')
  expect(await hmacSha256Hex('Jefe', data)).toBe(
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  )
})

test('a generated deploy key is an ed25519 pair that ssh-keygen reads', async () => {
  const { publicKey, privateKey } = await generateSshKey('berth-app')
  expect(publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+ berth-app$/)
  const dir = mkdtempSync(join(tmpdir(), 'berth-key-'))
  try {
    const file = join(dir, 'id')
    writeFileSync(file, privateKey, { mode: 0o600 })
    // ssh-keygen -y derives the public key from the private one: both halves must agree.
    expect(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim()).toBe(publicKey)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
