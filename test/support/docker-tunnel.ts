import { DOCKER_TUNNEL_WINDOW_BYTES } from '@berth/shared'
import { expect } from 'vitest'
import WebSocket from 'ws'
import type { Client } from './http.ts'
import { waitFor } from './process.ts'

/** A Docker connection through `GET /servers/:id/docker`, as a client of the tunnel sees it. */
export interface TunnelClient {
  /** Docker's bytes so far. */
  received(): Buffer
  /** Text frames the API sent (credit, eof, error). */
  frames: { type: string; bytes?: number; error?: { error: string; code: string; message: string } }[]
  send(bytes: string | Buffer): void
  eof(): void
  /** Waits for Docker's bytes to contain `text`; resolves with all received so far. */
  waitFor(text: string): Promise<string>
  /** Resolves with the close code once the API closed the socket. */
  closed: Promise<{ code: number; reason: string }>
  close(): void
}

/** Opens a tunnel; rejects with `HTTP <status>: <body>` when the API refuses the upgrade. */
export async function openTunnel(apiUrl: string, serverId: string, token: string): Promise<TunnelClient> {
  const ws = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/api/v1/servers/${serverId}/docker`, {
    headers: { Authorization: `Bearer ${token}` },
  })
  const chunks: Buffer[] = []
  const frames: TunnelClient['frames'] = []
  ws.on('message', (data, isBinary) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)
    if (!isBinary) return frames.push(JSON.parse(bytes.toString('utf8')))
    chunks.push(bytes)
    // Passed on at once: credit it.
    ws.send(JSON.stringify({ type: 'credit', bytes: bytes.length }))
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => {
        body += d
      })
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${body}`)))
    })
    ws.once('error', reject)
  })
  const received = () => Buffer.concat(chunks)
  return {
    received,
    frames,
    send(bytes) {
      const data = Buffer.from(bytes)
      if (data.length > DOCKER_TUNNEL_WINDOW_BYTES) throw new Error('more than the window at once')
      ws.send(data)
    },
    eof: () => ws.send(JSON.stringify({ type: 'eof' })),
    waitFor: (text) =>
      waitFor(`Docker to send ${JSON.stringify(text)}`, async () => {
        const seen = received().toString('latin1')
        return seen.includes(text) ? seen : undefined
      }),
    closed,
    close: () => ws.close(),
  }
}

/** The refusal of a tunnel's upgrade: its status and the API's error body. */
export async function tunnelRefusal(apiUrl: string, serverId: string, token: string) {
  const err = await openTunnel(apiUrl, serverId, token).then(
    (tunnel) => {
      tunnel.close()
      return null
    },
    (e: Error) => e,
  )
  const match = /^HTTP (\d+): (.*)$/s.exec(err?.message ?? '')
  if (!match) throw new Error(`the tunnel was not refused: ${String(err)}`)
  return { status: Number(match[1]), body: JSON.parse(match[2] ?? '{}') }
}

/** An HTTP/1.1 request as a Docker client writes it. */
export function dockerRequest(method: string, path: string, body?: unknown): string {
  const json = body === undefined ? '' : JSON.stringify(body)
  const head = [`${method} ${path} HTTP/1.1`, 'Host: docker', 'User-Agent: berth-test']
  if (body !== undefined)
    head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(json)}`)
  return `${head.join('\r\n')}\r\n\r\n${json}`
}

/** The Docker calls in the audit log as `[action, status, target]`, and the entries' text (to check what it leaves out). */
export async function dockerAudit(http: Client, admin: string) {
  const entries = await http.get('/audit?action=DOCKER', { token: admin })
  expect(entries.status, entries.text).toBe(200)
  const actions: any[][] = entries.body.entries.map(
    (e: { action: string; status: number; target: string }) => [e.action, e.status, e.target],
  )
  return { actions, text: entries.text }
}
