import { z } from 'zod'
import { deployArgs, deployStatus } from '../apps.ts'
import {
  containerDetail,
  containerSummary,
  portBinding,
  restartPolicy,
  statsSample,
  volumeMount,
} from '../containers.ts'
import { appRoutes, certificateStatus, proxyInfo, proxySettings } from '../domains.ts'

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
        /**
         * The caller may not reach the host: no host network or other container's namespaces, no
         * volume whose options bind a host path. Sent only when true.
         */
        contained: z.literal(true).optional(),
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

  /**
   * A tunnel: a connection to the host's Docker socket. Its bytes go both ways as binary frames
   * (see encodeTunnelData), within a STREAM_WINDOW_BYTES window each way (`credit` from the API
   * for what it took, from the agent for what it wrote to Docker); `eof` shuts the connection for
   * writing; `end` says Docker closed it; `cancel` closes it at once.
   */
  'docker.dial': {
    tunnel: true,
    args: z.object({}).strict(),
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

  // The host's Caddy. The agent owns only the config it tagged `berth-…` and leaves the rest alone.
  /**
   * Every domain of every app of this server, and the server's certificate settings: the agent
   * routes each app it serves to its containers, re-asserts that after a Caddy restart, and
   * removes the routes of apps not listed. Sent after each hello and after each domain change.
   */
  'proxy.sync': {
    args: z.object({ settings: proxySettings, apps: z.array(appRoutes).max(10_000) }).strict(),
    result: z.object({ proxy: proxyInfo.nullable() }),
  },
  /** The certificate Caddy serves for each hostname, read over TLS, with the last failure Caddy logged. */
  'proxy.status': {
    args: z.object({ hostnames: z.array(z.string().max(253)).max(100) }).strict(),
    result: z.object({ proxy: proxyInfo.nullable(), certificates: z.array(certificateStatus) }),
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
/** Ops that carry a connection's bytes both ways, opened with the Hub's `tunnel`. */
export type TunnelOpName = { [O in OpName]: (typeof ops)[O] extends { tunnel: true } ? O : never }[OpName]
export const isTunnelOp = (op: OpName): boolean => 'tunnel' in ops[op]
/** Ops answered with one `result`. */
export type CallOpName = Exclude<OpName, StreamOpName | TunnelOpName>
export type OpArgs<O extends OpName> = z.infer<(typeof ops)[O]['args']>
export type OpResult<O extends OpName> = z.infer<(typeof ops)[O]['result']>
export const OP_NAMES = Object.keys(ops) as [OpName, ...OpName[]]
