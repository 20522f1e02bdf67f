import { AGENT_ERRORS, type Area, upgrade } from './spec.ts'

const TUNNEL_FRAMES = [
  "Binary messages are the bytes of one connection to the server's Docker socket, both ways.",
  'Text frames both ways: `{"type":"credit","bytes":N}` (the sender passed on N more of the',
  'other side\'s bytes) and `{"type":"eof"}` (the sender sends no more). Each side may have',
  'at most 4 MiB sent and not credited. The API sends `{"type":"error","error":…}` before it',
  'closes on a failure. Admins, or tokens with the docker scope for the server.',
].join(' ')

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
  },
}
