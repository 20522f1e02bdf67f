// A tunnel's bytes between API and agent, as binary WebSocket frames: one byte of kind, one byte
// of the tunnel's id length, the id (ASCII), then the bytes. Text frames stay JSON.

const DATA = 1
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The bytes of a tunnel as one binary frame. */
export function encodeTunnelData(id: string, data: Uint8Array): Uint8Array {
  const idBytes = encoder.encode(id)
  if (idBytes.length > 255) throw new Error('a tunnel id is at most 255 bytes')
  const frame = new Uint8Array(2 + idBytes.length + data.length)
  frame[0] = DATA
  frame[1] = idBytes.length
  frame.set(idBytes, 2)
  frame.set(data, 2 + idBytes.length)
  return frame
}

/** A binary frame's tunnel id and bytes (a view, not a copy); null for one that is not a tunnel's data. */
export function decodeTunnelData(frame: Uint8Array): { id: string; data: Uint8Array } | null {
  if (frame.length < 2 || frame[0] !== DATA) return null
  const idLength = frame[1] ?? 0
  if (idLength === 0 || frame.length < 2 + idLength) return null
  return { id: decoder.decode(frame.subarray(2, 2 + idLength)), data: frame.subarray(2 + idLength) }
}
