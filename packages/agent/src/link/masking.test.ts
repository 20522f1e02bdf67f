import { expect, test } from 'vitest'
import { linkMasking } from './masking.ts'

const mask = (api: string) => {
  const bytes = Buffer.from([9, 9, 9, 9])
  linkMasking(api).generateMask?.(bytes)
  return [...bytes]
}

test('frames go unmasked over TLS and to a loopback address, masked to anything else', () => {
  for (const api of [
    'https://berth.example.com',
    'http://127.0.0.1:3001',
    'http://localhost:3001',
    'http://[::1]:3001',
  ]) {
    expect(mask(api), api).toEqual([0, 0, 0, 0])
  }
  for (const api of ['http://berth.example.com', 'http://10.0.0.5:3001', 'http://127.example.com']) {
    // ws makes a random mask when no generator is given.
    expect(linkMasking(api).generateMask, api).toBeUndefined()
  }
})
