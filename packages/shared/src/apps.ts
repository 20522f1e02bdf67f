import { z } from 'zod'
import { memory, resources } from './containers.ts'
import { plainText } from './text.ts'

// Apps and deployments: the REST bodies, and what the agent is told and reports for a deploy.

/** An app's name is a DNS label: it names its containers, image and (later) its domain. */
export const APP_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const appName = z.string().regex(APP_NAME, 'lowercase letters, digits and inner hyphens, at most 63')

/** A path inside a build context: relative, no `..`, no NUL. */
const contextPath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.startsWith('/') && !p.includes('\0') && !p.split(/[\\/]/).includes('..'),
    'a path inside the repository, without ..',
  )

/** Git URLs the agent clones: https/http, ssh (`ssh://` or `user@host:path`), git://, and file:// (admins only). */
export const GIT_URL = /^(https?:\/\/|ssh:\/\/|git:\/\/|file:\/\/\/|[\w.-]+@[\w.-]+:)[^\s\0]+$/
const gitRef = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\w][\w./-]*$/, 'a branch, tag or commit')
  .refine((r) => !r.includes('..'), 'a branch, tag or commit')

export const imageSource = z
  .object({ type: z.literal('image'), image: plainText(z.string().min(1).max(512)) })
  .strict()
export const gitSource = z
  .object({
    type: z.literal('git'),
    url: z.string().max(2048).regex(GIT_URL, 'an https, ssh, git or file URL'),
    branch: gitRef.default('main'),
    dockerfile: contextPath.default('Dockerfile'),
    context: contextPath.default('.'),
  })
  .strict()
export const uploadSource = z.object({ type: z.literal('upload') }).strict()
export const appSource = z.discriminatedUnion('type', [imageSource, gitSource, uploadSource])
export type AppSource = z.infer<typeof appSource>

const seconds = (max: number) => z.number().positive().max(max)

/** How the agent decides an app's container is healthy: an HTTP GET of `path` (2xx/3xx), or a TCP connect. */
export const healthCheck = z
  .object({
    path: z.string().startsWith('/').max(1024).optional(),
    tcp: z.boolean().optional(),
    interval: seconds(3600).default(10),
    timeout: seconds(600).default(5),
    healthy_threshold: z.number().int().min(1).max(100).default(1),
    unhealthy_threshold: z.number().int().min(1).max(100).default(3),
    start_period: z.number().min(0).max(3600).default(10),
  })
  .strict()
  .refine((h) => (h.path === undefined) !== (h.tcp !== true), 'either a path or tcp: true')
export type HealthCheck = z.infer<typeof healthCheck>

const volumeName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, 'letters, digits and _ . -')
export const appVolume = z
  .object({
    name: volumeName,
    target: z.string().min(1).max(4096).startsWith('/', 'an absolute path in the container'),
  })
  .strict()

const portNumber = z.number().int().min(1).max(65535)
/**
 * A port Docker publishes on the host as is (a game server's TCP or UDP port), never through a
 * Berth process or Caddy. The app's own HTTP `port` is served by the host's front door instead.
 */
export const appRawPort = z
  .object({ host: portNumber, container: portNumber, protocol: z.enum(['tcp', 'udp']).default('tcp') })
  .strict()
export type AppRawPort = z.infer<typeof appRawPort>
const rawPorts = z
  .array(appRawPort)
  .max(16)
  .refine(
    (ports) => new Set(ports.map((p) => `${p.host}/${p.protocol}`)).size === ports.length,
    'each host port once per protocol',
  )

/** Raw ports bind their host ports, so only one container at a time can hold them. */
const oneInstanceWithPorts = <T extends { ports?: unknown[]; instances?: number }>(b: T) =>
  !(b.ports && b.ports.length > 0 && (b.instances ?? 1) > 1)
const ONE_INSTANCE = {
  message: 'an app that publishes raw ports runs one instance: a host port is bound by one container',
  path: ['instances'],
}

/** How long each stage may take before the deployment fails, in seconds. */
export const deadlines = z
  .object({
    clone: seconds(24 * 3600).default(600),
    build: seconds(24 * 3600).default(1800),
  })
  .strict()

export const buildResources = z
  .object({ cpus: z.number().positive().max(1024), memory })
  .partial()
  .strict()

const envKey = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _, not starting with a digit')
const envValue = z.string().max(32_768)
export const envMap = z.record(envKey, envValue)

/** Names Berth sets itself on every deploy; an app cannot set them. */
export const RESERVED_ENV = [
  'BERTH_APP_ID',
  'BERTH_APP_NAME',
  'BERTH_DEPLOYMENT_ID',
  'PORT',
  'BERTH_PERSISTENT_DIR',
] as const

const appFields = {
  name: appName,
  server_id: z.string().min(1).max(64),
  source: appSource,
  /** The port the app listens on inside its container. */
  port: z.number().int().min(1).max(65535).default(3000),
  env: envMap.default({}),
  volumes: z.array(appVolume).max(16).default([]),
  resources: resources.default({}),
  instances: z.number().int().min(1).max(16).default(1),
  health_check: healthCheck.nullable().default(null),
  auto_deploy: z.boolean().default(true),
  deadlines: deadlines.default({ clone: 600, build: 1800 }),
  build_resources: buildResources.default({}),
  /** Raw TCP/UDP ports Docker publishes directly; a redeploy switches them with a short gap. */
  ports: rawPorts.default([]),
}

export const createAppBody = z.object(appFields).strict().refine(oneInstanceWithPorts, ONE_INSTANCE)
export type CreateAppBody = z.infer<typeof createAppBody>

export const updateAppBody = z
  .object({
    source: appSource,
    port: appFields.port.unwrap(),
    volumes: z.array(appVolume).max(16),
    resources,
    instances: appFields.instances.unwrap(),
    health_check: healthCheck.nullable(),
    auto_deploy: z.boolean(),
    deadlines: deadlines.partial(),
    build_resources: buildResources,
    ports: rawPorts,
  })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change')
  .refine(oneInstanceWithPorts, ONE_INSTANCE)

/** `PUT /apps/:id/env`: merged into the app's env; a null value deletes the key. */
export const setEnvBody = z.object({ env: z.record(envKey, envValue.nullable()) }).strict()

/** `POST /apps/:id/deploy` with JSON (the multipart/tar.gz form carries an upload instead). */
export const deployBody = z
  .object({
    /** A branch, tag or commit to build instead of the app's branch (git apps). */
    ref: gitRef.optional(),
    /** An image to run instead of the app's (image apps). */
    image: plainText(z.string().min(1).max(512)).optional(),
  })
  .strict()
export type DeployBody = z.infer<typeof deployBody>

export const rollbackBody = z.object({ deployment_id: z.string().min(1).max(64).optional() }).strict()

export const createWebhookBody = z
  .object({ provider: z.enum(['github', 'gitlab', 'gitea']), branch: gitRef.optional() })
  .strict()

export const DEPLOYMENT_STATES = [
  'queued',
  'cloning',
  'building',
  'deploying',
  'running',
  'failed',
  'cancelled',
  'superseded',
] as const
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number]
/** States of a deployment that the agent is working on. */
export const ACTIVE_STATES = ['cloning', 'building', 'deploying'] as const satisfies DeploymentState[]
export const FINAL_STATES = [
  'running',
  'failed',
  'cancelled',
  'superseded',
] as const satisfies DeploymentState[]

// ---------------------------------------------------------------- the agent's side of a deploy

/** What the agent is to build from. `prebuilt` reuses an image already on the host (rollback). */
export const deploySource = z.discriminatedUnion('type', [
  z.object({ type: z.literal('image'), image: z.string() }).strict(),
  z.object({ type: z.literal('prebuilt'), image: z.string() }).strict(),
  z
    .object({
      type: z.literal('git'),
      url: z.string(),
      /** Branch, tag or commit sha. */
      ref: z.string(),
      /** The app's deploy key (OpenSSH private key), for ssh URLs. */
      ssh_key: z.string().optional(),
      dockerfile: z.string(),
      context: z.string(),
    })
    .strict(),
  z
    .object({
      type: z.literal('upload'),
      /** The id the tarball was sent under with `upload.chunk`. */
      upload_id: z.string(),
      bytes: z.number().int().nonnegative(),
    })
    .strict(),
])
export type DeploySource = z.infer<typeof deploySource>

export const deployArgs = z
  .object({
    deployment_id: z.string(),
    app_id: z.string(),
    app_name: z.string(),
    source: deploySource,
    /** The tag a build gets: `berth/<app>:<deployment>`. */
    image_tag: z.string(),
    build: z.object({
      cpus: z.number().positive().optional(),
      memory: z.number().int().positive().optional(),
    }),
    run: z.object({
      port: z.number().int(),
      /** Every variable, secrets and Berth's own included; passed to Docker, never on a command line. */
      env: z.record(z.string(), z.string()),
      volumes: z.array(z.object({ volume: z.string(), target: z.string() })),
      resources: z.object({
        cpus: z.number().optional(),
        memory: z.number().optional(),
        pids: z.number().optional(),
      }),
      instances: z.number().int().min(1),
      health_check: z
        .object({
          path: z.string().optional(),
          tcp: z.boolean().optional(),
          interval: z.number(),
          timeout: z.number(),
          healthy_threshold: z.number().int(),
          unhealthy_threshold: z.number().int(),
          start_period: z.number(),
        })
        .nullable(),
      /** The host port the app answers on; null on a first deploy: the agent picks one from `port_range`. */
      host_port: z.number().int().nullable(),
      port_range: z.object({ start: z.number().int(), end: z.number().int() }),
      /** Raw ports Docker publishes; with any, the old container stops before the new one starts. */
      ports: z.array(appRawPort).default([]),
    }),
    /** Milliseconds each stage may take. The health gate's own deadline follows from the health check. */
    deadlines: z.object({ clone_ms: z.number().int().positive(), build_ms: z.number().int().positive() }),
    /** Values the agent replaces with `****` in every line of output it sends. */
    mask: z.array(z.string()),
  })
  .strict()
export type DeployArgs = z.infer<typeof deployArgs>

/** One line of a deployment's output. `system` lines are Berth's own narration. */
export const logLine = z.object({
  seq: z.number().int().nonnegative(),
  at: z.number(),
  stream: z.enum(['stdout', 'stderr', 'system']),
  text: z.string(),
})
export type LogLine = z.infer<typeof logLine>

/**
 * What a `job` frame of a deploy carries (its `state` is the deployment's state). Every field
 * is optional: a frame carries what changed. Log lines are numbered per deployment from 0.
 */
export const deployJobData = z.object({
  reason: z.string().optional(),
  commit: z.object({ sha: z.string(), message: z.string() }).optional(),
  image: z.string().optional(),
  host_port: z.number().int().optional(),
  /** Docker ids of the containers now serving the app. */
  containers: z.array(z.string()).optional(),
  logs: z.array(logLine).optional(),
})
export type DeployJobData = z.infer<typeof deployJobData>

/** A deploy as the agent knows it, for `deploy.status` after a reconnect. */
export const deployStatus = deployJobData.extend({
  deployment_id: z.string(),
  state: z.enum(DEPLOYMENT_STATES),
})

/** Labels on an app's containers: the agent finds, proxies and health-checks them by these alone. */
export const APP_LABELS = {
  app: 'berth.app',
  appName: 'berth.app.name',
  deployment: 'berth.deployment',
  port: 'berth.app.port',
  hostPort: 'berth.app.host_port',
  /** The health check as JSON, or absent. */
  health: 'berth.app.health',
} as const

/** Event kinds an agent sends about apps (`event` frames). */
export const appHealthEvent = z.object({
  results: z
    .array(
      z.object({
        app_id: z.string(),
        docker_id: z.string(),
        at: z.number(),
        ok: z.boolean(),
        ms: z.number().nullable(),
        error: z.string().nullable(),
      }),
    )
    .max(1000),
})
export const appRestartEvent = z.object({
  app_id: z.string(),
  docker_id: z.string(),
  reason: z.string(),
})
