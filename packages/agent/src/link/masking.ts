import { isIP } from 'node:net'

/**
 * A WebSocket client masks its frames so that a transparent proxy that missed the upgrade cannot
 * be handed bytes of someone else's choosing (a container's output, through a tunnel) as HTTP
 * (RFC 6455 §10.3). Over TLS no proxy on the path sees the bytes, and to a loopback address there
 * is no path: there the mask is all zeros, which ws skips on both ends, saving the copy and XOR
 * of every byte the link carries. To any other address over plain HTTP, masks stay random.
 */
export function linkMasking(api: string): { generateMask?: (mask: Buffer) => void } {
  const url = new URL(api)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1'
  return url.protocol === 'https:' || loopback ? { generateMask: (mask) => mask.fill(0) } : {}
}
