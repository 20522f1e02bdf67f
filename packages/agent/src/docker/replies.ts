import { z } from 'zod'

// Docker's replies, as far as the agent reads them.

export const containerListing = z.object({
  Id: z.string(),
  Names: z.array(z.string()),
  ImageID: z.string().optional(),
  Created: z.number().optional(),
  State: z.string(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Ports: z
    .array(z.object({ PrivatePort: z.number(), PublicPort: z.number().optional(), Type: z.string() }))
    .nullish(),
  Mounts: z.array(z.object({ Type: z.string(), Name: z.string().optional() })).nullish(),
})
export type ContainerListing = z.infer<typeof containerListing>

export const statsReading = z.object({
  read: z.string(),
  cpu_stats: z.object({
    cpu_usage: z.object({ total_usage: z.number(), percpu_usage: z.array(z.number()).nullish() }),
    system_cpu_usage: z.number().nullish(),
    online_cpus: z.number().nullish(),
  }),
  memory_stats: z.object({
    usage: z.number().nullish(),
    limit: z.number().nullish(),
    stats: z.record(z.string(), z.number()).nullish(),
  }),
  networks: z.record(z.string(), z.object({ rx_bytes: z.number(), tx_bytes: z.number() })).nullish(),
  blkio_stats: z
    .object({
      io_service_bytes_recursive: z.array(z.object({ op: z.string(), value: z.number() })).nullish(),
    })
    .nullish(),
  pids_stats: z.object({ current: z.number().nullish() }).nullish(),
})
export type StatsReading = z.infer<typeof statsReading>

export const dockerEvent = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: z.string() }),
  timeNano: z.number().optional(),
})
export type DockerEvent = z.infer<typeof dockerEvent>

export const imageListing = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number(),
  Created: z.number(),
  Containers: z.number().nullish(),
})
export type ImageListing = z.infer<typeof imageListing>

export const imageInspect = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number(),
  Created: z.string(),
  Config: z.object({ ExposedPorts: z.record(z.string(), z.unknown()).nullish() }).nullish(),
})
export type ImageInspect = z.infer<typeof imageInspect>

export const imageRemoval = z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() })
export type ImageRemoval = z.infer<typeof imageRemoval>
export const imagePrune = z.object({
  ImagesDeleted: z.array(imageRemoval).nullish(),
  SpaceReclaimed: z.number(),
})
export type ImagePrune = z.infer<typeof imagePrune>

export const volumeListing = z.object({
  Name: z.string(),
  Driver: z.string(),
  Mountpoint: z.string(),
  CreatedAt: z.string().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
})
export type VolumeListing = z.infer<typeof volumeListing>
export const volumePrune = z.object({
  VolumesDeleted: z.array(z.string()).nullish(),
  SpaceReclaimed: z.number(),
})
export type VolumePrune = z.infer<typeof volumePrune>

export const networkListing = z.object({
  Id: z.string(),
  Name: z.string(),
  Driver: z.string(),
  Scope: z.string(),
  Internal: z.boolean(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Created: z.string().nullish(),
})
export type NetworkListing = z.infer<typeof networkListing>

export const buildProgress = z.object({
  stream: z.string().optional(),
  status: z.string().optional(),
  progress: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).optional(),
  aux: z.object({ ID: z.string().optional() }).optional(),
})
export type BuildProgress = z.infer<typeof buildProgress>

export const createdReply = z.object({ Id: z.string() })
export const pullProgress = z.object({
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).optional(),
})

/** `Pid` is the process's pid on the host, 0 once it has ended. */
export const execInspect = z.object({
  Running: z.boolean(),
  ExitCode: z.number().int().nullable(),
  Pid: z.number().int().default(0),
})
export type ExecInspect = z.infer<typeof execInspect>

export const pathStat = z.object({
  name: z.string(),
  size: z.number(),
  mode: z.number(),
  linkTarget: z.string().default(''),
})
