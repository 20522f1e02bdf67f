import WebSocket from 'ws'
import { waitFor } from './process.ts'

// The realtime socket as a program uses it: subscribe to channels and wait for their events.

export interface RealtimeAuth {
  token?: string
  protocols?: string[]
}

export interface Frame {
  type: string
  channel?: string
  event?: string
  data?: any
  error?: { error: string; code: string }
}

/** A realtime socket to the API at `url`, with every frame it received and helpers to wait on them. */
export async function connectRealtime(url: string, auth: RealtimeAuth) {
  const headers: Record<string, string> = auth.token ? { Authorization: `Bearer ${auth.token}` } : {}
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/ws`, auth.protocols ?? [], { headers })
  const frames: Frame[] = []
  ws.on('message', (data) => frames.push(JSON.parse(String(data))))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
  const send = (frame: object) => ws.send(JSON.stringify(frame))
  const events = (channel: string, event?: string) =>
    frames.filter((f) => f.type === 'event' && f.channel === channel && (!event || f.event === event))
  return {
    ws,
    frames,
    send,
    events,
    waitEvent: (channel: string, event: string, timeoutMs = 15_000) =>
      waitFor(`${event} on ${channel}`, () => events(channel, event)[0], timeoutMs, 20),
    subscribe: async (channel: string) => {
      send({ type: 'subscribe', channel })
      return waitFor(
        `the answer to subscribing to ${channel}`,
        () => frames.find((f) => f.channel === channel && (f.type === 'subscribed' || f.type === 'error')),
        10_000,
        20,
      )
    },
  }
}
