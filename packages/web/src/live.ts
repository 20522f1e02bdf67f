import { BerthError, type ErrorBody } from '@berth/client'
import { effect, signal } from '@preact/signals'
import { session, signOut } from './session.ts'

// One WebSocket to /api/v1/ws for the whole page: components subscribe to channels (server
// status, container logs and stats, deployment progress), the socket opens on the first
// subscription, and a dropped socket comes back by itself with every subscription renewed.

export type LiveState = 'idle' | 'connecting' | 'open' | 'reconnecting'
export const liveState = signal<LiveState>('idle')

export interface LiveError {
  code: string
  message: string
  request_id: string
}

/** A channel's refusal as the error a page shows (its message, code and request id). */
export const liveError = (error: LiveError): BerthError => new BerthError(error as ErrorBody)

type Listener = (event: string, data: unknown) => void
type ErrorListener = (error: LiveError) => void

interface Channel {
  listeners: Set<Listener>
  errors: Set<ErrorListener>
}

const channels = new Map<string, Channel>()
let socket: WebSocket | null = null
let retry: ReturnType<typeof setTimeout> | undefined
let attempts = 0
let keepalive: ReturnType<typeof setInterval> | undefined

const RETRY_MAX_MS = 10_000

/** Listens to `channel` until the returned function is called. */
export function subscribe(channel: string, listener: Listener, onError?: ErrorListener): () => void {
  let entry = channels.get(channel)
  if (!entry) {
    entry = { listeners: new Set(), errors: new Set() }
    channels.set(channel, entry)
    send({ type: 'subscribe', channel })
  }
  entry.listeners.add(listener)
  if (onError) entry.errors.add(onError)
  connect()
  return () => {
    const current = channels.get(channel)
    if (!current) return
    current.listeners.delete(listener)
    if (onError) current.errors.delete(onError)
    if (current.listeners.size > 0) return
    channels.delete(channel)
    send({ type: 'unsubscribe', channel })
  }
}

function send(frame: object): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame))
}

function connect(): void {
  const token = session.value?.token
  if (socket || retry || !token) return
  const url = new URL('/api/v1/ws', location.href)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  // The bearer goes as a subprotocol: a browser's WebSocket can set no header, and a URL is logged.
  const ws = new WebSocket(url, ['berth.v1', `bearer.${token}`])
  socket = ws
  liveState.value = attempts === 0 ? 'connecting' : 'reconnecting'
  ws.onopen = () => {
    attempts = 0
    liveState.value = 'open'
    for (const channel of channels.keys()) send({ type: 'subscribe', channel })
    keepalive = setInterval(() => send({ type: 'ping' }), 25_000)
  }
  ws.onmessage = (message) => dispatch(String(message.data))
  ws.onclose = (event) => {
    clearInterval(keepalive)
    if (socket !== ws) return
    socket = null
    // 4401: the credential is no longer valid; signing out shows the sign-in page.
    if (event.code === 4401) return signOut()
    if (channels.size === 0 || !session.value) {
      liveState.value = 'idle'
      return
    }
    liveState.value = 'reconnecting'
    const delay = Math.min(RETRY_MAX_MS, 500 * 2 ** attempts++)
    retry = setTimeout(() => {
      retry = undefined
      connect()
    }, delay)
  }
}

function dispatch(text: string): void {
  let frame: { type?: string; channel?: string; event?: string; data?: unknown; error?: LiveError }
  try {
    frame = JSON.parse(text)
  } catch {
    return
  }
  const entry = frame.channel === undefined ? undefined : channels.get(frame.channel)
  if (frame.type === 'event' && entry) {
    for (const listener of entry.listeners) listener(frame.event ?? '', frame.data)
  } else if (frame.type === 'error' && entry && frame.error) {
    for (const listener of entry.errors) listener(frame.error)
  }
}

// Signing out (or in as someone else) closes the socket: it was opened with the old credential.
let openedFor = session.value?.token
effect(() => {
  const token = session.value?.token
  if (token === openedFor) return
  openedFor = token
  clearTimeout(retry)
  retry = undefined
  attempts = 0
  const old = socket
  socket = null
  old?.close(1000, 'signed out')
  liveState.value = 'idle'
  if (token && channels.size > 0) connect()
})
