import { z } from 'zod'
import { queryFlag } from './query.ts'
import { plainText } from './text.ts'

// Containers, images, volumes and networks: the REST bodies and the shapes agents report.

/** Docker's rule for container names. */
export const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/
const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `512m`, `1.5g`, `1048576` or a number of bytes → bytes; null for anything else. */
export function parseMemory(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : null
  const match = value
    .trim()
    .toLowerCase()
    .match(/^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/)
  if (!match) return null
  const bytes = Math.floor(Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1))
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null
}

/** Docker refuses a memory limit under 6 MiB. */
const MIN_MEMORY = 6 * 1024 * 1024

export const memory = z.union([z.string().max(32), z.number()]).transform((v, ctx) => {
  const bytes = parseMemory(v)
  if (bytes === null || bytes < MIN_MEMORY) {
    ctx.addIssue({ code: 'custom', message: 'a size such as "512m", "1g" or a number of bytes, at least 6m' })
    return z.NEVER
  }
  return bytes
})

export const resources = z
  .object({
    cpus: z.number().positive().max(1024),
    memory,
    pids: z.number().int().min(1).max(4_194_304),
  })
  .partial()
  .strict()

const port = z.number().int().min(1).max(65535)
export const portBinding = z
  .object({ host: port.optional(), container: port, protocol: z.enum(['tcp', 'udp']).default('tcp') })
  .strict()

export const volumeMount = z
  .object({
    /** A named volume, or (admins only) an absolute host path. */
    source: plainText(z.string().min(1).max(4096)),
    target: z.string().min(1).max(4096).startsWith('/', 'an absolute path in the container'),
    readonly: z.boolean().default(false),
  })
  .strict()

export const restartPolicy = z.enum(['no', 'always', 'unless-stopped', 'on-failure'])

const tag = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/, 'letters, digits and _ . : -')
const envKey = plainText(
  z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^=\0]+$/, 'no = in a variable name'),
)
/** A label's key: Docker takes any string, Berth takes none that would print other than it reads. */
const labelKey = plainText(z.string().min(1).max(256))
const labels = z.record(labelKey, z.string().max(4096)).default({})
const imageRef = plainText(z.string().min(1).max(512))
const envValue = z.string().max(32_768)

export const createContainerBody = z
  .object({
    image: imageRef,
    name: z.string().regex(CONTAINER_NAME, 'letters, digits and _ . - (Docker container name)').optional(),
    cmd: z.array(z.string().max(4096)).max(256).optional(),
    entrypoint: z.array(z.string().max(4096)).max(256).optional(),
    working_dir: z.string().max(4096).startsWith('/').optional(),
    env: z.record(envKey, envValue).default({}),
    tags: z.array(tag).max(32).default([]),
    labels,
    resources: resources.default({}),
    ports: z.array(portBinding).max(64).default([]),
    volumes: z.array(volumeMount).max(64).default([]),
    network: plainText(z.string().min(1).max(256)).optional(),
    restart: restartPolicy.default('no'),
    start: z.boolean().default(true),
  })
  .strict()
export type CreateContainerBody = z.infer<typeof createContainerBody>

export const updateContainerBody = z
  .object({
    /** Merged into the current env; a null value removes the key. Recreates the container. */
    env: z.record(envKey, envValue.nullable()),
    tags: z.array(tag).max(32),
    /** Applied live, without a restart. */
    resources,
    /** Recreates the container on the new image. */
    image: imageRef,
  })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change')

export const replacePortsBody = z.object({ ports: z.array(portBinding).max(64) }).strict()

export const containerListQuery = z.object({
  status: z
    .string()
    .max(200)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'])))
    .optional(),
  tag: tag.optional(),
  name: z.string().max(128).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

/** `GET /containers`: the same filters across every server (or one), in pages large enough for a table. */
export const allContainersQuery = containerListQuery.extend({
  server_id: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(2000).default(500),
})

export const stopBody = z.object({ timeout: z.number().int().min(0).max(3600).optional() }).strict()
export const killBody = z
  .object({
    signal: z
      .string()
      .regex(/^(SIG)?[A-Z0-9]{2,10}$|^\d{1,2}$/, 'a signal such as SIGTERM or 9')
      .optional(),
  })
  .strict()

export const logsQuery = z.object({
  tail: z.union([z.literal('all'), z.coerce.number().int().min(0).max(100_000)]).default(100),
  since: z.coerce.number().int().min(0).optional(),
  timestamps: queryFlag.default(false),
  follow: queryFlag.default(false),
})

export const statsHistoryQuery = z.object({ since: z.coerce.number().int().min(0).optional() })

export const pullImageBody = z.object({ image: imageRef }).strict()
export const createVolumeBody = z
  .object({
    name: z.string().regex(CONTAINER_NAME),
    labels,
  })
  .strict()
export const createNetworkBody = z
  .object({
    name: z.string().regex(CONTAINER_NAME),
    driver: z.enum(['bridge', 'overlay', 'macvlan', 'ipvlan']).default('bridge'),
    internal: z.boolean().default(false),
    labels,
  })
  .strict()

// ---------------------------------------------------------------- what agents report

export const containerStatus = z.enum([
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
])
export type ContainerStatus = z.infer<typeof containerStatus>

export const publishedPort = z.object({
  host: port.nullable(),
  container: port,
  protocol: z.enum(['tcp', 'udp', 'sctp']),
  host_ip: z.string().nullable(),
})
export type PublishedPort = z.infer<typeof publishedPort>

/** A container as the agent sees it in Docker: what the inventory and every event carry. */
export const containerSummary = z.object({
  docker_id: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string(),
  image: z.string(),
  status: containerStatus,
  exit_code: z.number().int().nullable(),
  health: z.enum(['none', 'starting', 'healthy', 'unhealthy']),
  created_at: z.number(),
  started_at: z.number().nullable(),
  finished_at: z.number().nullable(),
  ports: z.array(publishedPort),
  labels: z.record(z.string(), z.string()),
  /**
   * What of its host the container reaches past its own namespaces (`privileged`, `bind`,
   * `pid=host`, `network=host`, …); left out when nothing.
   */
  host_access: z.array(z.string().max(64)).max(32).optional(),
})
export type ContainerSummary = z.infer<typeof containerSummary>

/** Everything inspect shows, on top of the summary. */
export const containerDetail = containerSummary.extend({
  env: z.record(z.string(), z.string()),
  cmd: z.array(z.string()).nullable(),
  entrypoint: z.array(z.string()).nullable(),
  working_dir: z.string().nullable(),
  mounts: z.array(
    z.object({
      type: z.string(),
      source: z.string(),
      target: z.string(),
      readonly: z.boolean(),
      name: z.string().nullable(),
    }),
  ),
  resources: z.object({
    cpus: z.number().nullable(),
    memory: z.number().nullable(),
    pids: z.number().nullable(),
  }),
  restart: z.string(),
  networks: z.array(z.string()),
})
export type ContainerDetail = z.infer<typeof containerDetail>

/** A container as the API shows it in lists: its row, kept current by the agent's events. */
export const containerView = z.object({
  id: z.string(),
  docker_id: z.string(),
  server_id: z.string(),
  name: z.string(),
  image: z.string(),
  status: z.string().describe(containerStatus.options.join(' | ')),
  exit_code: z.number().int().nullable(),
  health: z.string().describe(containerSummary.shape.health.options.join(' | ')),
  ports: z.array(publishedPort),
  tags: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  /** False for containers that were not created through Berth. */
  managed: z.boolean(),
  /** What of its host the container reaches (admins only may act on it then). */
  host_access: z.array(z.string()),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  observed_at: z.string(),
})
export type ContainerView = z.infer<typeof containerView>

/** A container as inspect shows it: the list's view with what Docker says of it now. */
export const containerDetailView = containerView.extend(
  containerDetail.pick({
    env: true,
    cmd: true,
    entrypoint: true,
    working_dir: true,
    mounts: true,
    resources: true,
    restart: true,
    networks: true,
  }).shape,
)
export type ContainerDetailView = z.infer<typeof containerDetailView>

/** One stats sample of one container. Counters (net, block io) are totals since the container started. */
export const statsSample = z.object({
  docker_id: z.string(),
  at: z.number(),
  cpu_pct: z.number(),
  /** CPUs the container may use (its limit, else the host's count). */
  cpu_limit: z.number(),
  mem_used: z.number(),
  mem_limit: z.number(),
  net_rx: z.number(),
  net_tx: z.number(),
  blk_read: z.number(),
  blk_write: z.number(),
  pids: z.number(),
})
export type StatsSample = z.infer<typeof statsSample>

/** Labels Berth puts on what it creates. */
export const LABELS = { id: 'berth.id', tags: 'berth.tags', managed: 'berth.managed' } as const

/** Keys whose values inspect masks unless an admin asks to see them. */
export const SECRET_ENV_KEY = /pass|secret|token|key|pwd|credential|auth|private|cert|salt/i

/** Event kinds an agent sends (`event` frames). */
export const inventoryEvent = z.object({ containers: z.array(containerSummary) })
export const containerEvent = z.object({
  action: z.string().max(64),
  docker_id: z.string(),
  /** The container after the event; null when it is gone. */
  container: containerSummary.nullable(),
})
