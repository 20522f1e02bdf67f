import { expect, test } from 'vitest'
import {
  decodeFrame,
  decodeTunnelData,
  encodeFrame,
  encodeTunnelData,
  PROTOCOL_VERSION,
  toAgent,
  toApi,
} from './index.ts'

test('frames carry the protocol version and parse back by direction', () => {
  const text = encodeFrame({ type: 'call', id: 'call_1', op: 'docker.ping', args: {}, timeoutMs: 1000 })
  expect(JSON.parse(text).v).toBe(PROTOCOL_VERSION)
  expect(decodeFrame(toAgent, text)).toMatchObject({ type: 'call', id: 'call_1' })
  // A call is not something an agent sends.
  expect(decodeFrame(toApi, text)).toBeNull()
})

test('invalid frames are refused, not trusted', () => {
  expect(decodeFrame(toApi, 'not json')).toBeNull()
  expect(decodeFrame(toApi, JSON.stringify({ type: 'heartbeat', seq: 1 }))).toBeNull() // no v
  expect(decodeFrame(toApi, JSON.stringify({ v: 2, type: 'heartbeat', seq: 1 }))).toBeNull()
  expect(decodeFrame(toApi, JSON.stringify({ v: 1, type: 'heartbeat', seq: -1 }))).toBeNull()
  expect(decodeFrame(toApi, JSON.stringify({ v: 1, type: 'heartbeat', seq: 1 }))).toEqual({
    v: 1,
    type: 'heartbeat',
    seq: 1,
  })
})

test("a tunnel's bytes travel as a binary frame that names the tunnel", () => {
  const data = new Uint8Array([0, 1, 2, 255, 10, 13])
  const frame = encodeTunnelData('call_abc', data)
  const decoded = decodeTunnelData(frame)
  expect(decoded?.id).toBe('call_abc')
  expect([...(decoded?.data ?? [])]).toEqual([...data])
  expect(decodeTunnelData(encodeTunnelData('call_abc', new Uint8Array()))?.data.length).toBe(0)
  // Not a data frame, an empty id, an id longer than the frame.
  expect(decodeTunnelData(new Uint8Array([2, 1, 65]))).toBeNull()
  expect(decodeTunnelData(new Uint8Array([1, 0, 65]))).toBeNull()
  expect(decodeTunnelData(new Uint8Array([1, 9, 65]))).toBeNull()
})
