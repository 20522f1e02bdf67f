import WebSocket from 'ws'

/** Bytes waiting in the link's send buffer above which a stream waits before reading more from Docker. */
const HIGH_WATER_BYTES = 1024 * 1024

/**
 * Sends a frame of a stream or tunnel; resolves at once, or when the link has sent its buffer out
 * if that holds more than HIGH_WATER_BYTES, so one busy stream cannot pile up the link's memory.
 */
export function sendPaced(
  link: WebSocket | null,
  frame: string | Uint8Array,
  signal: AbortSignal,
): Promise<void> {
  if (link?.readyState !== WebSocket.OPEN) return Promise.resolve()
  return new Promise((resolve) => {
    let waiting = false
    const done = () => {
      signal.removeEventListener('abort', done)
      resolve()
    }
    // ws calls this once the frame, and so everything before it, has been written to the socket.
    link.send(frame, () => {
      if (waiting) done()
    })
    if (link.bufferedAmount <= HIGH_WATER_BYTES) return resolve()
    waiting = true
    signal.addEventListener('abort', done, { once: true })
  })
}
