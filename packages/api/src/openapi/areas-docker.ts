import { AGENT_ERRORS, type Area, type Operation, upgrade } from './spec.ts'

const TUNNEL_FRAMES = [
  "Binary messages are the bytes of one connection to the server's Docker socket, both ways.",
  'Text frames both ways: `{"type":"credit","bytes":N}` (the sender passed on N more of the',
  'other side\'s bytes) and `{"type":"eof"}` (the sender sends no more). Each side may have',
  'at most 4 MiB sent and not credited. The API sends `{"type":"error","error":…}` before it',
  'closes on a failure. Admins, or tokens with the docker scope for the server.',
].join(' ')

/** One method of the HTTP Docker endpoint: Docker's answer passes through as it is. */
const dockerApi = (method: string, id: string): Operation => ({
  id,
  summary: `${method} on the server's Docker Engine API over plain HTTP`,
  description: [
    "`path` is Docker's own (`_ping`, `version`, `v1.41/containers/json`, …), its query kept.",
    "Docker's status, headers and body come back unchanged, streamed; a Docker error is Docker's body.",
    'Bodies stream to Docker and are not held to the API body limit.',
    '`Upgrade: tcp` (attach, exec start) answers `101 UPGRADED` on Node and then carries raw bytes;',
    'On Workers, workerd drops Upgrade before the worker: the call is answered as a plain one. HEAD is answered as GET is.',
    'Admins, or tokens with the docker scope for the server; Basic auth takes a token as the password.',
  ].join(' '),
  ok: {
    status: 200,
    description: "Docker's answer, whatever its status",
    content: { '*/*': { schema: { type: 'string', description: "Docker's body" } } },
  },
  ...(method === 'GET'
    ? {}
    : {
        body: {
          description: "Docker's request body",
          required: false,
          content: { '*/*': { schema: { type: 'string' } } },
        },
      }),
  errors: [...AGENT_ERRORS, 'rate_limited'],
})

export const dockerArea: Area = {
  tag: 'docker',
  description:
    "Docker's own API on a server, through its agent: for the docker CLI, Compose and other Docker clients.",
  operations: {
    'GET /servers/{sid}/docker': {
      id: 'openDockerTunnel',
      summary: "A connection to the server's Docker API (WebSocket)",
      ok: upgrade(TUNNEL_FRAMES),
      errors: [...AGENT_ERRORS, 'rate_limited'],
    },
    'GET /servers/{sid}/docker-api/{path}': dockerApi('GET', 'getDockerApi'),
    'POST /servers/{sid}/docker-api/{path}': dockerApi('POST', 'postDockerApi'),
    'PUT /servers/{sid}/docker-api/{path}': dockerApi('PUT', 'putDockerApi'),
    'DELETE /servers/{sid}/docker-api/{path}': dockerApi('DELETE', 'deleteDockerApi'),
  },
}
