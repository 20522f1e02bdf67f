import { open } from 'node:fs/promises'
import tls from 'node:tls'
import type { CertificateStatus } from '@berth/shared'
import { mapBounded } from '../concurrency.ts'

const PROBE_TIMEOUT_MS = 3_000
/** The end of Caddy's certificate log that is read: its newest entries. */
const LOG_TAIL_BYTES = 1024 * 1024

interface Served {
  expiresAt: number
  issuer: string | null
}

/**
 * The certificate Caddy serves for `servername`, read with a TLS handshake to its HTTPS port; null
 * when Caddy has none for it (it ends the handshake) or serves one that does not cover the name.
 */
export function servedCertificate(host: string, port: number, servername: string): Promise<Served | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      servername,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      timeout: PROBE_TIMEOUT_MS,
    })
    const done = (value: Served | null) => {
      socket.destroy()
      resolve(value)
    }
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      const covers = tls.checkServerIdentity(servername, cert) === undefined
      const issuer = cert.issuer?.CN
      done(
        covers && cert.valid_to
          ? { expiresAt: Date.parse(cert.valid_to), issuer: typeof issuer === 'string' ? issuer : null }
          : null,
      )
    })
    socket.once('timeout', () => done(null))
    socket.once('error', () => done(null))
  })
}

interface LogEntry {
  logger?: unknown
  identifier?: unknown
  error?: unknown
  msg?: unknown
  ts?: unknown
  level?: unknown
}

/**
 * Why the last attempt at each name's certificate failed, from the end of Caddy's certificate log;
 * names whose last word there is a success are left out. The ACME server's own account of a failed
 * challenge ("connection refused to 203.0.113.7") wins over Caddy's summary of the attempt.
 */
export async function lastFailures(file: string): Promise<Map<string, string>> {
  const text = await readTail(file)
  const problems = new Map<string, string>()
  const errors = new Map<string, string>()
  for (const line of text.split('\n')) {
    let entry: LogEntry
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    const name = entry.identifier
    if (typeof name !== 'string') continue
    if (typeof entry.msg === 'string' && /certificate obtained successfully/.test(entry.msg)) {
      problems.delete(name)
      errors.delete(name)
      continue
    }
    // An attempt cut short by a config load is tried again at once; it says nothing about the name.
    if (entry.level !== 'error' || typeof entry.error !== 'string' || /context canceled/.test(entry.error))
      continue
    if (entry.msg === 'challenge failed') problems.set(name, entry.error)
    else errors.set(name, entry.error)
  }
  const failures = new Map(errors)
  for (const [name, problem] of problems) failures.set(name, problem)
  return failures
}

async function readTail(file: string): Promise<string> {
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      const start = Math.max(0, size - LOG_TAIL_BYTES)
      const buffer = Buffer.alloc(size - start)
      await handle.read(buffer, 0, buffer.length, start)
      return buffer.toString('utf8')
    } finally {
      await handle.close()
    }
  } catch {
    return ''
  }
}

/** Where each hostname's certificate stands: served (active), last attempt failed, or still to come. */
export async function readCertificates(input: {
  hostnames: readonly string[]
  host: string
  port: number
  tlsLog: string | null
}): Promise<CertificateStatus[]> {
  const failures = input.tlsLog ? await lastFailures(input.tlsLog) : new Map<string, string>()
  return mapBounded(input.hostnames, 8, async (hostname) => {
    // A wildcard's certificate is asked for with a name under it.
    const servername = hostname.replace(/^\*\./, 'berth-check.')
    const served = await servedCertificate(input.host, input.port, servername)
    if (served)
      return { hostname, status: 'active', reason: null, expires_at: served.expiresAt, issuer: served.issuer }
    const failure = failures.get(hostname) ?? null
    return {
      hostname,
      status: failure ? 'failed' : 'pending',
      reason: failure,
      expires_at: null,
      issuer: null,
    }
  })
}
