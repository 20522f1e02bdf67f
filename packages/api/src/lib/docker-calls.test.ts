import { expect, test } from 'vitest'
import { type DockerCall, DockerConversation } from './docker-calls.ts'
import { FramingError } from './http-framing.ts'

const bytes = (text: string) => new TextEncoder().encode(text)

/** Feeds a conversation in pieces of `size` bytes; returns the calls it reported. */
function follow(client: string, docker: string, size: number): DockerCall[] {
  const calls: DockerCall[] = []
  const conversation = new DockerConversation((call) => calls.push(call))
  // Each request, then its answer, as a client that does not pipeline sees them.
  const requests = client.split('|')
  const answers = docker.split('|')
  requests.forEach((request, i) => {
    const data = bytes(request)
    for (let at = 0; at < data.length; at += size) conversation.fromClient(data.subarray(at, at + size))
    const answer = bytes(answers[i] ?? '')
    for (let at = 0; at < answer.length; at += size) conversation.fromDocker(answer.subarray(at, at + size))
  })
  return calls.map(({ method, path, status }) => ({ method, path, status, durationMs: 0 }))
}

const create =
  'POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: docker\r\nContent-Length: 15\r\n\r\n{"Image":"app"}'
const created =
  'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"Id":"x"}'
const build =
  'POST /v1.41/build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'
const built = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{..}\r\n0\r\n\r\n'
const head = 'HEAD /_ping HTTP/1.1\r\n\r\n'
const headAnswer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'

test('each call is reported with its answer, however the bytes are split', () => {
  for (const size of [1, 2, 3, 7, 64, 10_000]) {
    expect(follow([create, build, head].join('|'), [created, built, headAnswer].join('|'), size)).toEqual([
      { method: 'POST', path: '/v1.41/containers/create', status: 201, durationMs: 0 },
      { method: 'POST', path: '/v1.41/build', status: 200, durationMs: 0 },
      { method: 'HEAD', path: '/_ping', status: 200, durationMs: 0 },
    ])
  }
})

test('a hijack Docker accepted makes both ways raw; one it refused leaves the requests after it seen', () => {
  const attach = 'POST /containers/c/attach?stdin=1 HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n'
  const calls: DockerCall[] = []
  const upgraded = new DockerConversation((call) => calls.push(call))
  upgraded.fromClient(bytes(attach))
  upgraded.fromDocker(bytes('HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nraw output'))
  upgraded.fromClient(bytes('DELETE /containers/c HTTP/1.1\r\n\r\n'))
  expect(upgraded.raw).toBe(true)
  expect(calls.map((c) => c.path)).toEqual(['/containers/c/attach'])

  const refused = follow(
    `${attach}|DELETE /containers/c HTTP/1.1\r\n\r\n`,
    'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}|HTTP/1.1 204 No Content\r\n\r\n',
    5,
  )
  expect(refused.map((c) => [c.method, c.path, c.status])).toEqual([
    ['POST', '/containers/c/attach', 404],
    ['DELETE', '/containers/c', 204],
  ])
})

test('an answer with no length is a hijack; requests after it are not read', () => {
  const calls: DockerCall[] = []
  const conversation = new DockerConversation((call) => calls.push(call))
  conversation.fromClient(bytes('POST /exec/e/start HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}'))
  conversation.fromDocker(bytes('HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n'))
  conversation.fromClient(bytes('not http at all\r\n\r\n'))
  expect(conversation.raw).toBe(true)
  expect(calls).toHaveLength(1)
})

test('a request that waits for the answer to the one before is reported, answered 0, when the connection ends', () => {
  const calls: DockerCall[] = []
  const conversation = new DockerConversation((call) => calls.push(call))
  conversation.fromClient(
    bytes('POST /containers/a/kill HTTP/1.1\r\n\r\nPOST /containers/b/kill HTTP/1.1\r\n\r\n'),
  )
  conversation.finish()
  expect(calls.map((c) => [c.path, c.status])).toEqual([
    ['/containers/a/kill', 0],
    ['/containers/b/kill', 0],
  ])
})

test('bytes that are not HTTP/1.1 this can follow are a FramingError', () => {
  const bad = [
    'hello\r\n\r\n',
    'GET /x HTTP/2\r\n\r\n',
    'POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST /x HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n',
    'POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n',
    'POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'GET /x HTTP/1.1\r\nBad header\r\n\r\n',
    `GET /x HTTP/1.1\r\nX: ${'a'.repeat(70_000)}`,
  ]
  for (const request of bad) {
    const conversation = new DockerConversation(() => {})
    expect(() => conversation.fromClient(bytes(request)), request.slice(0, 60)).toThrow(FramingError)
  }
})
