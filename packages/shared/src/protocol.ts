import { z } from 'zod'
import { AGENT_ERROR_KINDS } from './errors.ts'

/** Version carried by every frame between API and agent. */
export const PROTOCOL_VERSION = 1
const v = z.literal(PROTOCOL_VERSION)

// ---------------------------------------------------------------- operations

/** Every operation an agent can be called for, with the shape of its arguments and its result. */
export const ops = {
  /** A round trip to the host's Docker Engine. */
  'docker.ping': {
    args: z.object({}).strict(),
    result: z.object({ docker_ms: z.number() }),
  },
  /** What the host has and uses right now. */
  'host.resources': {
    args: z.object({}).strict(),
    result: z.object({
      cpus: z.number().int(),
      load: z.tuple([z.number(), z.number(), z.number()]),
      memory: z.object({ total: z.number(), used: z.number(), free: z.number() }),
      disk: z.object({ path: z.string(), total: z.number(), used: z.number(), free: z.number() }),
      uptime_s: z.number(),
      docker: z.object({
        containers: z.number().int(),
        running: z.number().int(),
        images: z.number().int(),
      }),
    }),
  },
} as const

export type OpName = keyof typeof ops
export type OpArgs<O extends OpName> = z.infer<(typeof ops)[O]['args']>
export type OpResult<O extends OpName> = z.infer<(typeof ops)[O]['result']>
export const OP_NAMES = Object.keys(ops) as [OpName, ...OpName[]]

export const agentError = z.object({
  kind: z.enum(AGENT_ERROR_KINDS),
  message: z.string(),
  details: z.unknown().optional(),
})
export type AgentError = z.infer<typeof agentError>

// ---------------------------------------------------------------- agent → API

export const hello = z.object({
  v,
  type: z.literal('hello'),
  agentVersion: z.string().max(64),
  hostname: z.string().max(255),
  arch: z.string().max(32),
  os: z.string().max(128),
  dockerVersion: z.string().max(64).nullable(),
  cpus: z.number().int().nonnegative(),
  memoryBytes: z.number().nonnegative(),
})

export const heartbeat = z.object({ v, type: z.literal('heartbeat'), seq: z.number().int().nonnegative() })

export const result = z.discriminatedUnion('ok', [
  z.object({ v, type: z.literal('result'), id: z.string(), ok: z.literal(true), data: z.unknown() }),
  z.object({ v, type: z.literal('result'), id: z.string(), ok: z.literal(false), error: agentError }),
])

export const chunk = z.object({
  v,
  type: z.literal('chunk'),
  id: z.string(),
  seq: z.number().int().nonnegative(),
  stream: z.enum(['stdout', 'stderr', 'data']),
  data: z.string(),
  encoding: z.enum(['utf8', 'base64']).optional(),
})

export const end = z.object({
  v,
  type: z.literal('end'),
  id: z.string(),
  exitCode: z.number().int().optional(),
  error: agentError.optional(),
})

export const event = z.object({
  v,
  type: z.literal('event'),
  kind: z.string().max(64),
  at: z.number(),
  data: z.record(z.string(), z.unknown()),
})

export const stats = z.object({
  v,
  type: z.literal('stats'),
  samples: z.array(z.record(z.string(), z.unknown())).max(10_000),
})

export const job = z.object({
  v,
  type: z.literal('job'),
  jobId: z.string(),
  state: z.string().max(32),
  data: z.record(z.string(), z.unknown()).optional(),
})

/** Frames an agent sends to the API. */
export const toApi = z.discriminatedUnion('type', [hello, heartbeat, result, chunk, end, event, stats, job])
export type ToApi = z.infer<typeof toApi>

// ---------------------------------------------------------------- API → agent

export const welcome = z.object({
  v,
  type: z.literal('welcome'),
  serverId: z.string(),
  /** How often the agent must send a heartbeat; the API drops the link after three missed. */
  heartbeatMs: z.number().int().positive(),
})

export const heartbeatAck = z.object({
  v,
  type: z.literal('heartbeat_ack'),
  seq: z.number().int().nonnegative(),
})

export const call = z.object({
  v,
  type: z.literal('call'),
  id: z.string(),
  op: z.string(),
  args: z.unknown(),
  timeoutMs: z.number().int().positive(),
})

export const cancel = z.object({ v, type: z.literal('cancel'), id: z.string() })
export const input = z.object({
  v,
  type: z.literal('input'),
  id: z.string(),
  data: z.string(),
  encoding: z.enum(['utf8', 'base64']).optional(),
})
export const resize = z.object({
  v,
  type: z.literal('resize'),
  id: z.string(),
  cols: z.number().int().positive(),
  rows: z.number().int().positive(),
})
export const credit = z.object({
  v,
  type: z.literal('credit'),
  id: z.string(),
  bytes: z.number().int().positive(),
})

/** Frames the API sends to an agent. */
export const toAgent = z.discriminatedUnion('type', [
  welcome,
  heartbeatAck,
  call,
  cancel,
  input,
  resize,
  credit,
])
export type ToAgent = z.infer<typeof toAgent>

type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
export type ToApiBody = Without<ToApi, 'v'>
export type ToAgentBody = Without<ToAgent, 'v'>

/** Serialises a frame, stamping the protocol version. */
export function encodeFrame(frame: ToApiBody | ToAgentBody): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, ...frame })
}

/** Parses a frame with its direction's schema; `null` for anything that is not a valid frame. */
export function decodeFrame<S extends typeof toApi | typeof toAgent>(
  schema: S,
  text: string,
): z.infer<S> | null {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return null
  }
  const parsed = schema.safeParse(raw)
  return parsed.success ? (parsed.data as z.infer<S>) : null
}

/** HTTP paths the agent uses. */
export const AGENT_PATHS = {
  enroll: '/api/v1/agent/enroll',
  connect: '/api/v1/agent/connect',
  download: '/api/v1/agent/download',
} as const

/** The WebSocket close code the API uses when the server was deleted or its token revoked. */
export const CLOSE_REVOKED = 4401
