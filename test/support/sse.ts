import { type ServerSentEvent, SseParser } from '@berth/client'

export type SseEvent = ServerSentEvent

/** Reads a server-sent event stream with the client's parser, as the CLI does, until aborted or ended. */
export async function openSse(url: string, token: string) {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal })
  const events: SseEvent[] = []
  let ended = false
  const done = (async () => {
    if (!res.body) return
    const decoder = new TextDecoder()
    const parser = new SseParser()
    const reader = res.body.getReader()
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        events.push(...parser.push(decoder.decode(value, { stream: true })))
      }
    } catch {
      // aborted by the test
    }
    ended = true
  })()
  return {
    status: res.status,
    headers: res.headers,
    events,
    get ended() {
      return ended
    },
    done,
    close: () => controller.abort(),
  }
}
