import { z } from 'zod'
import { deployArgs, deployStatus } from './apps.ts'
import {
  containerDetail,
  containerSummary,
  portBinding,
  restartPolicy,
  statsSample,
  volumeMount,
} from './containers.ts'
import { AGENT_ERROR_KINDS } from './errors.ts'

/** Version carried by every frame between API and agent. */
export const PROTOCOL_VERSION = 1
const v = z.literal(PROTOCOL_VERSION)

// ---------------------------------------------------------------- operations

const ref = z.string().min(1).max(256)
const portRange = z.object({
  start: z.number().int().min(1).max(65535),
  end: z.number().int().min(1).max(65535),
})
const resourceLimits = z
  .object({
    cpus: z.number().positive(),
    memory: z.number().int().positive(),
    pids: z.number().int().positive(),
  })
  .partial()
  .strict()
const imageInfo = z.object({
  id: z.string(),
  tags: z.array(z.string()),
  size: z.number(),
  created_at: z.number(),
  containers: z.number().int().nullable(),
})
const volumeInfo = z.object({
  name: z.string(),
  driver: z.string(),
  mountpoint: z.string(),
  created_at: z.number().nullable(),
  labels: z.record(z.string(), z.string()),
  in_use: z.boolean().nullable(),
})
const networkInfo = z.object({
  id: z.string(),
  name: z.string(),
  driver: z.string(),
  scope: z.string(),
  internal: z.boolean(),
  labels: z.record(z.string(), z.string()),
  created_at: z.number().nullable(),
})

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
  /**
   * The agent itself: streams it has open (each with the bytes it sent and those the API has not
   * credited back yet), how long it runs, its memory.
   */
  'agent.status': {
    args: z.object({}).strict(),
    result: z.object({
      open_streams: z.number().int(),
      streams: z.array(
        z.object({
          op: z.string(),
          sent_bytes: z.number().int(),
          in_flight_bytes: z.number().int(),
        }),
      ),
      uptime_s: z.number(),
      rss_bytes: z.number(),
    }),
  },

  // Containers. `ref` is a Docker id (or unique prefix) or a container name.
  'container.list': {
    args: z.object({}).strict(),
    result: z.object({ containers: z.array(containerSummary) }),
  },
  'container.create': {
    args: z
      .object({
        berth_id: z.string(),
        name: z.string().optional(),
        image: z.string(),
        cmd: z.array(z.string()).optional(),
        entrypoint: z.array(z.string()).optional(),
        working_dir: z.string().optional(),
        env: z.record(z.string(), z.string()),
        /** All labels, Berth's own included. */
        labels: z.record(z.string(), z.string()),
        resources: resourceLimits,
        ports: z.array(portBinding),
        /** Where ports without `host` are allocated from, skipping ports in use. */
        port_range: portRange,
        volumes: z.array(volumeMount),
        network: z.string().optional(),
        restart: restartPolicy,
        start: z.boolean(),
      })
      .strict(),
    result: containerDetail,
  },
  'container.inspect': { args: z.object({ ref }).strict(), result: containerDetail },
  /** Changes limits live (docker update). */
  'container.update': {
    args: z.object({ ref, resources: resourceLimits }).strict(),
    result: containerDetail,
  },
  /**
   * Replaces a container by a new one under the same name, with the same config but what is
   * given here, the same volumes, and the same running state.
   */
  'container.recreate': {
    args: z
      .object({
        ref,
        image: z.string().optional(),
        /** The whole new env. */
        env: z.record(z.string(), z.string()).optional(),
        /** The whole new set of labels. */
        labels: z.record(z.string(), z.string()).optional(),
        ports: z.array(portBinding).optional(),
        port_range: portRange,
      })
      .strict(),
    result: containerDetail,
  },
  'container.action': {
    args: z
      .object({
        ref,
        action: z.enum(['start', 'stop', 'restart', 'pause', 'unpause', 'kill']),
        timeout: z.number().int().min(0).optional(),
        signal: z.string().optional(),
      })
      .strict(),
    result: containerDetail,
  },
  'container.remove': {
    args: z.object({ ref, force: z.boolean(), volumes: z.boolean() }).strict(),
    result: z.object({ docker_id: z.string() }),
  },
  /** A stream: `chunk` frames on stdout/stderr, then `end`. Without follow it ends after the tail. */
  'container.logs': {
    stream: true,
    args: z
      .object({
        ref,
        tail: z.union([z.literal('all'), z.number().int().min(0)]),
        since: z.number().int().min(0).optional(),
        timestamps: z.boolean(),
        follow: z.boolean(),
      })
      .strict(),
    result: z.object({}),
  },
  'container.stats': { args: z.object({ ref }).strict(), result: statsSample },
  /**
   * A stream: a process run in a running container (docker exec). Output comes as base64
   * `chunk` frames on stdout/stderr (one stdout with a tty), then `end` with the process's exit
   * code. While it runs the API sends `input` (its stdin), `resize` (the tty's size) and
   * `signal`; `cancel` kills the process.
   */
  'container.exec': {
    stream: true,
    args: z
      .object({
        ref,
        cmd: z.array(z.string().max(4096)).min(1).max(256),
        tty: z.boolean(),
        cols: z.number().int().min(1).max(1000).optional(),
        rows: z.number().int().min(1).max(1000).optional(),
        user: z.string().max(256).optional(),
        workdir: z.string().max(4096).optional(),
        env: z.record(z.string(), z.string()),
      })
      .strict(),
    result: z.object({}),
  },

  'image.list': {
    args: z.object({}).strict(),
    result: z.object({ images: z.array(imageInfo) }),
  },
  /** Pulls an image from its registry; a registry that cannot be reached is an agent_error. */
  'image.pull': { args: z.object({ image: z.string() }).strict(), result: z.object({ image: imageInfo }) },
  'image.remove': {
    args: z.object({ ref, force: z.boolean() }).strict(),
    result: z.object({ deleted: z.array(z.string()), untagged: z.array(z.string()) }),
  },
  'image.prune': {
    args: z.object({ all: z.boolean() }).strict(),
    result: z.object({ deleted: z.array(z.string()), reclaimed_bytes: z.number() }),
  },

  'volume.list': { args: z.object({}).strict(), result: z.object({ volumes: z.array(volumeInfo) }) },
  'volume.create': {
    args: z.object({ name: z.string(), labels: z.record(z.string(), z.string()) }).strict(),
    result: z.object({ volume: volumeInfo }),
  },
  'volume.remove': {
    args: z.object({ name: z.string(), force: z.boolean() }).strict(),
    result: z.object({}),
  },
  'volume.prune': {
    args: z.object({}).strict(),
    result: z.object({ deleted: z.array(z.string()), reclaimed_bytes: z.number() }),
  },

  'network.list': { args: z.object({}).strict(), result: z.object({ networks: z.array(networkInfo) }) },
  'network.create': {
    args: z
      .object({
        name: z.string(),
        driver: z.string(),
        internal: z.boolean(),
        labels: z.record(z.string(), z.string()),
      })
      .strict(),
    result: z.object({ network: networkInfo }),
  },
  'network.remove': { args: z.object({ ref }).strict(), result: z.object({}) },

  // Deploys. A deploy runs on the agent as a job that outlives the call and any one link: the
  // agent reports its progress in `job` frames (jobId = deployment id, data = deployJobData).
  /** Starts a deploy; answers at once. Starting one the agent already has is not an error. */
  'deploy.start': { args: deployArgs, result: z.object({ accepted: z.boolean() }) },
  /** Stops a deploy before it serves: the clone or build is stopped and what it made is removed. */
  'deploy.cancel': {
    args: z.object({ deployment_id: z.string() }).strict(),
    result: z.object({ found: z.boolean() }),
  },
  /** Where the agent's deploys stand, with every log line it still holds; unknown ids are left out. */
  'deploy.status': {
    args: z.object({ deployment_ids: z.array(z.string()).max(1000) }).strict(),
    result: z.object({ jobs: z.array(deployStatus) }),
  },
  /** Removes what a deploy that will never finish left: its containers and its image tag. */
  'deploy.cleanup': {
    args: z.object({ deployment_id: z.string(), image_tag: z.string() }).strict(),
    result: z.object({ containers: z.number().int(), image: z.boolean() }),
  },
  /** Part of an uploaded tarball, written at `offset` of the upload's file on the host. */
  'upload.chunk': {
    args: z
      .object({
        upload_id: z.string().regex(/^[a-z0-9_]{1,64}$/),
        offset: z.number().int().nonnegative(),
        /** base64 */
        data: z.string().max(2 * 1024 * 1024),
      })
      .strict(),
    result: z.object({ bytes: z.number().int() }),
  },
  // Files in containers (running or stopped). Paths are absolute paths in the container.
  /** What is at a path: a file (its size), a directory, or something else. */
  'files.stat': {
    args: z.object({ ref, path: z.string().min(1).max(4096) }).strict(),
    result: z.object({
      type: z.enum(['file', 'directory', 'other']),
      name: z.string(),
      size: z.number().int().nonnegative(),
    }),
  },
  /** A stream: a file's bytes as is, or a directory as tar or zip, in base64 `data` chunks. */
  'files.get': {
    stream: true,
    args: z
      .object({ ref, path: z.string().min(1).max(4096), format: z.enum(['raw', 'tar', 'zip']) })
      .strict(),
    result: z.object({}),
  },
  /**
   * Unpacks a tar or zip sent before with `upload.chunk` into a directory of the container.
   * An entry that would land outside `path` refuses the whole archive and nothing is written.
   */
  'files.put': {
    args: z
      .object({
        ref,
        path: z.string().min(1).max(4096),
        upload_id: z.string().regex(/^[a-z0-9_]{1,64}$/),
        bytes: z.number().int().nonnegative(),
        format: z.enum(['tar', 'zip']),
      })
      .strict(),
    result: z.object({ entries: z.number().int(), bytes: z.number().int() }),
  },
  /**
   * Git in a checkout inside a container: through the container's own git when it has one, else
   * the host's git against the directory of the container's volume that holds `path`.
   * A git that ran and failed is a result (exit_code ≠ 0), not an error.
   */
  'git.run': {
    args: z
      .object({
        ref,
        /** The checkout; the container's working dir when left out. */
        path: z.string().min(1).max(4096).optional(),
        action: z.enum(['pull', 'init', 'head', 'branches', 'branch', 'checkout']),
        /** For checkout: the branch; `create` makes it. */
        branch: z.string().min(1).max(255).optional(),
        create: z.boolean().optional(),
        /** For pull: the remote (default origin) and branch (default the current one's upstream). */
        remote: z.string().min(1).max(255).optional(),
      })
      .strict(),
    result: z.object({
      via: z.enum(['container', 'host']),
      exit_code: z.number().int(),
      stdout: z.string(),
      stderr: z.string(),
    }),
  },

  /** Stops serving an app: its proxy, its containers, and its volumes when asked. */
  'app.remove': {
    args: z.object({ app_id: z.string(), volumes: z.array(z.string()) }).strict(),
    result: z.object({ containers: z.number().int() }),
  },
} as const

export type OpName = keyof typeof ops
/** Ops answered with a stream of `chunk` frames and an `end`, opened with the Hub's `open`. */
export type StreamOpName = { [O in OpName]: (typeof ops)[O] extends { stream: true } ? O : never }[OpName]
export const isStreamOp = (op: OpName): boolean => 'stream' in ops[op]
export type OpArgs<O extends OpName> = z.infer<(typeof ops)[O]['args']>
export type OpResult<O extends OpName> = z.infer<(typeof ops)[O]['result']>
export const OP_NAMES = Object.keys(ops) as [OpName, ...OpName[]]

export const agentError = z.object({
  kind: z.enum(AGENT_ERROR_KINDS),
  message: z.string(),
  details: z.unknown().optional(),
  /** A finer reason, answered as the error body's `code`. */
  code: z.string().optional(),
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

/** The flow-control window of every stream (see `welcome.streamWindowBytes`). */
export const STREAM_WINDOW_BYTES = 1024 * 1024

/** WebSocket close codes the API ends an agent's link with. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  invalidFrame: 1008,
  /** No heartbeat for three intervals; the agent reconnects. */
  heartbeatLost: 4000,
  /** Another connection with the same agent token took over. */
  replaced: 4001,
  /** The server was deleted or enrolled again: the agent must not come back. */
  revoked: 4401,
} as const
export const CLOSE_REVOKED = CLOSE_CODES.revoked
