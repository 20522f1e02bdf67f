// Hashing, tokens and comparisons through WebCrypto only, so Node and Workers share them.

const encoder = new TextEncoder()

/** Workers cap PBKDF2 at 100,000 iterations; the count is stored with each hash so it can be raised. */
const PBKDF2_ITERATIONS = 100_000

export function toBase64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('')
}

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n))
}

/** A secret token with a readable prefix, e.g. `berth_pat_…`. */
export function newSecretToken(prefix: 'berth_pat' | 'berth_enr' | 'berth_agt'): string {
  return `${prefix}_${toBase64Url(randomBytes(32))}`
}

export async function sha256Hex(input: string | Uint8Array): Promise<string> {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input
  return toHex(await crypto.subtle.digest('SHA-256', bytes as BufferSource))
}

/** Compares two strings in time that depends only on their length. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  const n = Math.max(x.length, y.length)
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    key,
    256,
  )
  return new Uint8Array(bits)
}

/** `pbkdf2-sha256$<iterations>$<salt>$<hash>`, base64url parts, 16-byte per-user salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await pbkdf2(password, salt, PBKDF2_ITERATIONS)
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${toBase64Url(salt)}$${toBase64Url(hash)}`
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iterations, salt, hash] = stored.split('$')
  if (scheme !== 'pbkdf2-sha256' || !iterations || !salt || !hash) return false
  const actual = await pbkdf2(password, fromBase64Url(salt), Number(iterations))
  return timingSafeEqual(toBase64Url(actual), hash)
}

/** A hash of a fixed password, checked against when the account does not exist so timing says nothing. */
let decoyHash: Promise<string> | undefined
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword('decoy password, never valid')
  return decoyHash
}

// ---------------------------------------------------------------- secrets at rest

const SEALED_PREFIX = 'v1'
const sealKeys = new Map<string, Promise<CryptoKey>>()

/** The AES-256-GCM key for secrets at rest, derived from BERTH_SECRET_KEY with HKDF-SHA256. */
function sealKey(secretKey: string): Promise<CryptoKey> {
  let key = sealKeys.get(secretKey)
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey('raw', encoder.encode(secretKey), 'HKDF', false, [
        'deriveKey',
      ])
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode('berth secrets v1') },
        base,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      )
    })()
    sealKeys.set(secretKey, key)
  }
  return key
}

/**
 * Encrypts a secret for storage: `v1.<iv>.<ciphertext+tag>` (base64url), a fresh 96-bit IV per
 * value. `context` (say, the app id and the variable's name) is bound as additional data, so a
 * sealed value copied to another row does not open there.
 */
export async function seal(secretKey: string, plain: string, context: string): Promise<string> {
  const iv = randomBytes(12)
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: iv as BufferSource, additionalData: encoder.encode(context) },
    await sealKey(secretKey),
    encoder.encode(plain),
  )
  return `${SEALED_PREFIX}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`
}

/** Decrypts what `seal` made with the same key and context; throws on anything else. */
export async function unseal(secretKey: string, stored: string, context: string): Promise<string> {
  const [version, iv, data] = stored.split('.')
  if (version !== SEALED_PREFIX || !iv || !data) throw new Error('not a sealed value')
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64Url(iv) as BufferSource, additionalData: encoder.encode(context) },
    await sealKey(secretKey),
    fromBase64Url(data) as BufferSource,
  )
  return new TextDecoder().decode(plain)
}

// ---------------------------------------------------------------- signatures

export async function hmacSha256Hex(secret: string, data: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return toHex(await crypto.subtle.sign('HMAC', key, data as BufferSource))
}

// ---------------------------------------------------------------- ssh keys

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length)
  new DataView(out.buffer).setUint32(0, bytes.length)
  out.set(bytes, 4)
  return out
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Standard base64 (with padding), for bytes of any size. */
export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** A new ed25519 key pair: the public key as an `authorized_keys` line, the private key in OpenSSH's format. */
export async function generateSshKey(comment: string): Promise<{ publicKey: string; privateKey: string }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const pub = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer)
  // PKCS#8 of an Ed25519 key: a fixed 16-byte header, then the 32-byte seed.
  const seed = new Uint8Array((await crypto.subtle.exportKey('pkcs8', pair.privateKey)) as ArrayBuffer).slice(
    16,
  )
  const type = encoder.encode('ssh-ed25519')
  const publicBlob = concat(sshString(type), sshString(pub))
  const check = randomBytes(4)
  let secret = concat(
    check,
    check,
    sshString(type),
    sshString(pub),
    sshString(concat(seed, pub)),
    sshString(encoder.encode(comment)),
  )
  const pad = (8 - (secret.length % 8)) % 8
  secret = concat(
    secret,
    Uint8Array.from({ length: pad }, (_, i) => i + 1),
  )
  const none = sshString(encoder.encode('none'))
  const body = concat(
    encoder.encode('openssh-key-v1\0'),
    none,
    none,
    sshString(new Uint8Array(0)),
    new Uint8Array([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(secret),
  )
  const lines = toBase64(body).match(/.{1,70}/g) ?? []
  return {
    publicKey: `ssh-ed25519 ${toBase64(publicBlob)} ${comment}`,
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
  }
}
