import { z } from 'zod'
import { proxyInfo } from '../domains.ts'
import { AGENT_ERROR_KINDS } from '../errors.ts'
import { PROTOCOL_VERSION } from './link.ts'

const v = z.literal(PROTOCOL_VERSION)

export const agentError = z.object({
  kind: z.enum(AGENT_ERROR_KINDS),
  message: z.string(),
  /**
   * A finer, stable reason, as the API's error `code`. Open on the wire, so an agent of another
   * version still parses; the API keeps only the codes of its ERROR_CODES.
   */
  code: z.string().max(64).optional(),
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
  /** The Docker id of the container the agent runs in, when it runs in one on its own host. */
  agentContainer: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** The Docker volume that holds the agent's state file (its token), when one does. */
  stateVolume: z.string().max(255).optional(),
  /** The host's Caddy as the agent found it at its admin endpoint; null when none answers. */
  proxy: proxyInfo.nullable().optional(),
  /** The host's first non-internal IPv4 address, for the automatic `<app>.<ip>.sslip.io` domain. */
  ipv4: z.string().max(15).nullable().optional(),
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

/** A tunnel's flow control the other way: the agent passed on this many of the API's bytes. */
export const tunnelCredit = z.object({
  v,
  type: z.literal('credit'),
  id: z.string(),
  bytes: z.number().int().positive(),
})

/** Frames an agent sends to the API. */
export const toApi = z.discriminatedUnion('type', [
  hello,
  heartbeat,
  result,
  chunk,
  end,
  event,
  stats,
  job,
  tunnelCredit,
])
export type ToApi = z.infer<typeof toApi>

// ---------------------------------------------------------------- API → agent

export const welcome = z.object({
  v,
  type: z.literal('welcome'),
  serverId: z.string(),
  /** How often the agent must send a heartbeat; the API drops the link after three missed. */
  heartbeatMs: z.number().int().positive(),
  /** How often to sample the stats of running containers. */
  statsIntervalMs: z.number().int().positive().optional(),
  /**
   * Flow control: a stream may have this many bytes of chunk data unacknowledged before the
   * agent waits for `credit` frames, which the API sends as its reader takes the data. Without
   * it (an older API) streams are paced by the link's buffer alone.
   */
  streamWindowBytes: z.number().int().positive().optional(),
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

/** A signal for the process of a stream (container.exec). */
export const signal = z.object({
  v,
  type: z.literal('signal'),
  id: z.string(),
  name: z.enum(['INT', 'TERM', 'KILL', 'HUP', 'QUIT']),
})

/** A tunnel's half-close: the API sends no more bytes; the host's connection is shut for writing. */
export const eof = z.object({ v, type: z.literal('eof'), id: z.string() })

/** Frames the API sends to an agent. */
export const toAgent = z.discriminatedUnion('type', [
  welcome,
  heartbeatAck,
  call,
  cancel,
  input,
  resize,
  credit,
  signal,
  eof,
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
