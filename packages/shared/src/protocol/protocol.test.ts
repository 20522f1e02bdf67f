import { expect, test } from 'vitest'
import { decodeFrame, encodeFrame, PROTOCOL_VERSION, toAgent, toApi } from './index.ts'

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
