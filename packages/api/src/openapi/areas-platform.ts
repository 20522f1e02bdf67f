import {
  apiTokenView,
  enrollmentInfo,
  enrollResponse,
  healthView,
  ops,
  SCOPES,
  serverView,
  userView,
} from '@berth/shared'
import { z } from 'zod'
import { AGENT_ERRORS, type Area, bytes, json, noContent, one, page, upgrade, view } from './spec.ts'

const session = z.object({ token: z.string(), expires_at: z.string(), user: userView })

const REALTIME_FRAMES = [
  'Client frames: `{"type":"subscribe","channel"}`, `{"type":"unsubscribe","channel"}`, `{"type":"ping"}`.',
  'Server frames: `{"type":"subscribed"|"unsubscribed","channel"}`, `{"type":"pong"}`,',
  '`{"type":"event","channel","event","data"}`, `{"type":"error","channel"?,"error"}` with the error body.',
  'Channels: `servers`, `server:<id>`, `containers`, `server:<id>:containers`, `container:<sid>:<cid>:logs`, `container:<sid>:<cid>:stats`, `deployment:<id>`,',
  '`audit` (admin). A browser authenticates with the subprotocols `berth.v1` and `bearer.<token>`.',
].join(' ')

export const metaArea: Area = {
  tag: 'meta',
  description: 'The API itself: its health, this document and its reference page.',
  operations: {
    'GET /health': {
      id: 'getHealth',
      summary: 'Health of the API and its database',
      ok: json(200, 'The API and its database answer', healthView),
      also: [json(503, 'The database does not answer: `status` is `degraded`', healthView)],
    },
    'GET /openapi.json': {
      id: 'getOpenApiDocument',
      summary: 'This OpenAPI 3.1 document',
      ok: json(200, 'The OpenAPI document of every route', z.looseObject({ openapi: z.string() })),
    },
    'GET /docs': {
      id: 'getApiReference',
      summary: 'The API reference as a web page',
      ok: { status: 200, description: 'This document rendered as HTML', content: bytes('text/html') },
    },
  },
}

export const authArea: Area = {
  tag: 'auth',
  description: 'Registering, logging in and who the caller is.',
  operations: {
    'POST /auth/register': {
      id: 'register',
      summary: 'Register a user',
      description: 'The first user becomes `admin`; later ones only when open registration is on.',
      ok: json(201, 'The user is registered', one('user', userView)),
      errors: ['forbidden', 'conflict'],
    },
    'POST /auth/login': {
      id: 'login',
      summary: 'Log in with email and password',
      ok: json(200, 'A session token', session),
      errors: ['auth_error', 'rate_limited'],
    },
    'POST /auth/password': {
      id: 'changePassword',
      summary: 'Change your own password',
      description: 'Every session of yours ends; the answer carries a fresh session token.',
      ok: json(200, 'The password is changed; a fresh session token', session),
      errors: ['rate_limited'],
    },
    'GET /auth/me': {
      id: 'getMe',
      summary: 'The caller and how it authenticated',
      ok: json(
        200,
        'The caller',
        z.object({
          user: userView,
          auth: z.union([
            z.object({ type: z.literal('session') }),
            z.object({
              type: z.literal('token'),
              token_id: z.string(),
              scopes: z.array(z.enum(SCOPES)),
              docker_servers: z.array(z.string()),
            }),
          ]),
        }),
      ),
    },
  },
}

export const userArea: Area = {
  tag: 'users',
  description: 'Users and their roles (admin).',
  operations: {
    'GET /users': {
      id: 'listUsers',
      summary: 'List users',
      ok: json(200, 'A page of users', page('users', userView)),
    },
    'POST /users': {
      id: 'createUser',
      summary: 'Create a user',
      ok: json(201, 'The user is created', one('user', userView)),
      errors: ['conflict'],
    },
    'GET /users/{id}': {
      id: 'getUser',
      summary: 'Get a user',
      ok: json(200, 'The user', one('user', userView)),
    },
    'PATCH /users/{id}': {
      id: 'updateUser',
      summary: 'Change a user',
      description:
        'A new password ends every session of that user; demoting or disabling the last admin is `422`.',
      ok: json(200, 'The user as changed', one('user', userView)),
      errors: ['state_error', 'conflict'],
    },
    'DELETE /users/{id}': {
      id: 'deleteUser',
      summary: 'Delete a user',
      ok: noContent('The user is deleted; their sessions and tokens stop working'),
      errors: ['state_error'],
    },
  },
}

export const tokenArea: Area = {
  tag: 'tokens',
  description: "The caller's own API tokens; any role, bounded by the calling token's scopes.",
  operations: {
    'GET /tokens': {
      id: 'listTokens',
      summary: 'List your API tokens',
      ok: json(200, 'A page of your tokens, without values', page('tokens', apiTokenView)),
    },
    'POST /tokens': {
      id: 'createToken',
      summary: 'Create an API token',
      description:
        'The `docker` scope opens Docker on the servers named in `docker_servers`, while the owner is an admin; only an admin grants it, a token only on servers it opens itself.',
      ok: json(
        201,
        'The token; `value` is shown only here',
        one('token', apiTokenView.extend({ value: z.string() })),
      ),
    },
    'DELETE /tokens/{id}': {
      id: 'revokeToken',
      summary: 'Revoke an API token',
      ok: noContent('The token stops working at once'),
    },
  },
}

const validation = z.object({ ok: z.boolean(), round_trip_ms: z.number(), docker_ms: z.number() })

export const serverArea: Area = {
  tag: 'servers',
  description: 'Docker hosts, each with the agent that dials out from it.',
  operations: {
    'GET /servers': {
      id: 'listServers',
      summary: 'List servers',
      ok: json(200, 'A page of servers', page('servers', serverView)),
    },
    'POST /servers': {
      id: 'createServer',
      summary: 'Add a server',
      description: 'Answers a one-time enrollment token and the commands that start its agent.',
      ok: json(
        201,
        'The server and its enrollment',
        z.object({ server: serverView, enrollment: enrollmentInfo }),
      ),
      errors: ['conflict'],
    },
    'GET /servers/{id}': {
      id: 'getServer',
      summary: 'Get a server',
      ok: json(200, 'The server', one('server', serverView)),
    },
    'PATCH /servers/{id}': {
      id: 'updateServer',
      summary: 'Change a server',
      ok: json(200, 'The server as changed', one('server', serverView)),
      errors: ['conflict'],
    },
    'DELETE /servers/{id}': {
      id: 'deleteServer',
      summary: 'Remove a server',
      ok: noContent('The agent token is revoked and the agent disconnected'),
    },
    'POST /servers/{id}/enrollment': {
      id: 'rotateEnrollment',
      summary: 'Make a new enrollment token',
      ok: json(201, 'The new enrollment; earlier ones stop working', one('enrollment', enrollmentInfo)),
    },
    'POST /servers/{id}/validate': {
      id: 'validateServer',
      summary: 'Check the way to the agent and its Docker Engine',
      ok: json(200, 'API → agent → Docker Engine and back', one('validation', validation)),
      errors: AGENT_ERRORS,
    },
    'GET /servers/{id}/agent': {
      id: 'getAgentStatus',
      summary: "The server's agent process and its streams",
      ok: json(200, 'The agent as it reports itself', one('agent', ops['agent.status'].result)),
      errors: AGENT_ERRORS,
    },
    'GET /servers/{id}/resources': {
      id: 'getServerResources',
      summary: "The host's resources, read live",
      ok: json(200, 'CPUs, load, memory, disk', one('resources', ops['host.resources'].result)),
      errors: AGENT_ERRORS,
    },
  },
}

export const agentArea: Area = {
  tag: 'agents',
  description: 'What agents call: enrollment, their connection, the agent bundle.',
  operations: {
    'POST /agent/enroll': {
      id: 'enrollAgent',
      summary: 'Trade an enrollment token for an agent token',
      ok: json(201, 'The agent token, kept in the agent state file', enrollResponse),
      errors: ['auth_error'],
    },
    'GET /agent/connect': {
      id: 'connectAgent',
      summary: "The agent's WebSocket",
      description:
        'Authorization: Bearer <agent token>. The frames of the agent protocol are in docs/agent.md.',
      ok: upgrade('JSON text frames of the agent protocol, each with its version `v`.'),
      errors: ['auth_error', 'validation_error'],
      auth: 'agent',
    },
    'GET /agent/download': {
      id: 'downloadAgent',
      summary: 'The one-file agent',
      ok: { status: 200, description: 'berth-agent.mjs', content: bytes('text/javascript') },
      errors: ['not_found'],
    },
    'GET /cli/download': {
      id: 'downloadCli',
      summary: 'The one-file berth CLI',
      ok: { status: 200, description: 'berth.mjs', content: bytes('text/javascript') },
      errors: ['not_found'],
    },
  },
}

export const auditArea: Area = {
  tag: 'audit',
  description: 'The audit log of every mutating request (admin).',
  operations: {
    'GET /audit': {
      id: 'listAudit',
      summary: 'List audit log entries, newest first',
      ok: json(
        200,
        'A page of entries',
        page(
          'entries',
          view(
            { id: z.string(), at: z.string(), action: z.string(), status: z.number() },
            '{id, at, actor {type, id}, action, target, status, duration_ms, request_id, ip}',
          ),
        ),
      ),
    },
  },
}

export const realtimeArea: Area = {
  tag: 'realtime',
  description: 'The realtime socket: subscriptions to servers, containers, deployments and the audit log.',
  operations: {
    'GET /ws': {
      id: 'openRealtime',
      summary: 'Open the realtime WebSocket',
      ok: upgrade(REALTIME_FRAMES),
      errors: ['validation_error', 'rate_limited'],
    },
  },
}
