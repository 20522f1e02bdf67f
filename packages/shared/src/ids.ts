/** Prefixes of every id Berth hands out; the rest is time-ordered so ids sort by creation. */
export const ID_PREFIX = {
  user: 'usr',
  token: 'tok',
  server: 'srv',
  container: 'ctr',
  enrollment: 'enr',
  audit: 'aud',
  request: 'req',
  call: 'call',
  app: 'app',
  deployment: 'dep',
  webhook: 'whk',
  delivery: 'dlv',
  domain: 'dom',
} as const

export type IdKind = keyof typeof ID_PREFIX

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'
let lastTime = 0
let lastRandom: Uint8Array = new Uint8Array(10)

function encode(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += CROCKFORD[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += CROCKFORD[(buffer << (5 - bits)) & 31]
  return out
}

/** Random bytes drawn in bulk: one getRandomValues call per 409 ids rather than one each. */
const pool = new Uint8Array(4096)
let poolAt = pool.length

function randomTail(): Uint8Array {
  if (poolAt + 10 > pool.length) {
    crypto.getRandomValues(pool)
    poolAt = 0
  }
  poolAt += 10
  return pool.slice(poolAt - 10, poolAt)
}

function increment(bytes: Uint8Array): Uint8Array {
  const next = bytes.slice()
  for (let i = next.length - 1; i >= 0; i--) {
    next[i] = (next[i]! + 1) & 0xff
    if (next[i] !== 0) break
  }
  return next
}

/**
 * A ULID-shaped id (48-bit ms time + 80 random bits, Crockford base32) behind a prefix.
 * Ids made in the same millisecond by one process stay ordered, so a cursor on id
 * neither skips nor repeats rows.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  let random: Uint8Array
  if (now <= lastTime) {
    random = increment(lastRandom)
    now = lastTime
  } else {
    random = randomTail()
  }
  lastTime = now
  lastRandom = random
  const bytes = new Uint8Array(16)
  let t = now
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256
    t = Math.floor(t / 256)
  }
  bytes.set(random, 6)
  return `${ID_PREFIX[kind]}_${encode(bytes)}`
}

export function hasPrefix(id: string, kind: IdKind): boolean {
  return id.startsWith(`${ID_PREFIX[kind]}_`)
}
