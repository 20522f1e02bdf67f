export interface SseEvent {
  event: string
  data: string
  id?: string
}

/** Reads a server-sent event stream as a browser's EventSource would, until aborted or ended. */
export async function openSse(url: string, token: string) {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal })
  const events: SseEvent[] = []
  let ended = false
  const done = (async () => {
    if (!res.body) return
    const decoder = new TextDecoder()
    let buffer = ''
    const reader = res.body.getReader()
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let cut = buffer.indexOf('\n\n')
        while (cut >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const event: SseEvent = { event: 'message', data: '' }
          const data: string[] = []
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':')
            const field = colon < 0 ? line : line.slice(0, colon)
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
            if (field === 'event') event.event = value
            else if (field === 'data') data.push(value)
            else if (field === 'id') event.id = value
          }
          event.data = data.join('\n')
          events.push(event)
          cut = buffer.indexOf('\n\n')
        }
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
