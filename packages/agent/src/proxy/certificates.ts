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

/** The last thing Caddy's certificate log says about each name: obtained, or the error it gave. */
export async function lastObtainResults(
  file: string,
): Promise<Map<string, { error: string | null; at: number }>> {
  const results = new Map<string, { error: string | null; at: number }>()
  let text: string
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      const start = Math.max(0, size - LOG_TAIL_BYTES)
      const buffer = Buffer.alloc(size - start)
      await handle.read(buffer, 0, buffer.length, start)
      text = buffer.toString('utf8')
    } finally {
      await handle.close()
    }
  } catch {
    return results
  }
  for (const line of text.split('\n')) {
    let entry: { identifier?: unknown; error?: unknown; msg?: unknown; ts?: unknown; level?: unknown }
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    if (typeof entry.identifier !== 'string') continue
    const at = typeof entry.ts === 'number' ? entry.ts * 1000 : 0
    if (typeof entry.error === 'string' && entry.level === 'error') {
      results.set(entry.identifier, { error: entry.error, at })
    } else if (typeof entry.msg === 'string' && /certificate obtained successfully/.test(entry.msg)) {
      results.set(entry.identifier, { error: null, at })
    }
  }
  return results
}

/** Where each hostname's certificate stands: served (active), last attempt failed, or still to come. */
export async function readCertificates(input: {
  hostnames: readonly string[]
  host: string
  port: number
  tlsLog: string | null
}): Promise<CertificateStatus[]> {
  const logged = input.tlsLog ? await lastObtainResults(input.tlsLog) : new Map()
  return mapBounded(input.hostnames, 8, async (hostname) => {
    // A wildcard's certificate is asked for with a name under it.
    const servername = hostname.replace(/^\*\./, 'berth-check.')
    const served = await servedCertificate(input.host, input.port, servername)
    if (served)
      return { hostname, status: 'active', reason: null, expires_at: served.expiresAt, issuer: served.issuer }
    const failure = logged.get(hostname)?.error ?? null
    return {
      hostname,
      status: failure ? 'failed' : 'pending',
      reason: failure,
      expires_at: null,
      issuer: null,
    }
  })
}
