import { type ContainerDetail, LABELS, type OpArgs } from '@berth/shared'
import type { ContainerSpec, Docker } from '../docker/index.ts'
import { OpError } from '../errors.ts'
import type { OpContext } from '../ops/context.ts'
import { portConflictOf } from './ports.ts'
import { detailOf } from './report.ts'
import { envList, exposedPortsOf, limitsOf, missingImage, portBindingsOf, requireImage } from './spec.ts'

type CreateArgs = OpArgs<'container.create'>

export async function createContainer(
  args: CreateArgs,
  { docker, signal, agent }: OpContext,
): Promise<ContainerDetail> {
  if (args.contained) await refuseHostReach(docker, args, signal)
  await requireImage(docker, args.image, signal)
  const id = await agent.ports.choose(async (plan) => {
    const ports = await plan(docker, args.ports, args.port_range, { signal })
    const spec: ContainerSpec = {
      Image: args.image,
      Cmd: args.cmd,
      Entrypoint: args.entrypoint,
      WorkingDir: args.working_dir,
      Env: envList(args.env),
      Labels: { [LABELS.id]: args.berth_id, ...args.labels },
      ExposedPorts: exposedPortsOf(ports),
      HostConfig: {
        ...limitsOf(args.resources),
        PortBindings: portBindingsOf(ports),
        Mounts: args.volumes.map((v) => ({
          // An absolute path is a folder of the host; anything else names a volume Docker makes on first use.
          Type: v.source.startsWith('/') ? 'bind' : 'volume',
          Source: v.source,
          Target: v.target,
          ReadOnly: v.readonly,
        })),
        NetworkMode: args.network,
        RestartPolicy: { Name: args.restart, MaximumRetryCount: 0 },
      },
    }
    return docker.createContainer(spec, args.name, signal).catch((err: unknown) => {
      throw missingImage(err, args.image) ?? err
    })
  })
  try {
    if (args.start) await docker.startContainer(id, signal)
    return detailOf(await docker.inspectContainer(id, signal))
  } catch (err) {
    // Nothing half-made stays behind.
    await docker.removeContainer(id, { force: true, volumes: false }).catch(() => {})
    throw portConflictOf(err) ?? err
  }
}

/** What a caller who may not reach the host may not give a new container; refused before anything is made. */
async function refuseHostReach(docker: Docker, args: CreateArgs, signal: AbortSignal): Promise<void> {
  const refuse = (message: string, details: Record<string, unknown>) =>
    new OpError('forbidden', message, details, 'host_access_forbidden')
  const { network } = args
  if (network === 'host' || network?.startsWith('container:')) {
    throw refuse(`network ${network} shares the namespace of the host or another container`, { network })
  }
  // Host paths themselves the API refuses before calling.
  const named = new Set(args.volumes.map((v) => v.source))
  if (named.size === 0) return
  const bound = (await docker.listVolumes(signal)).filter((v) => named.has(v.Name) && bindsHostPath(v))
  if (bound.length > 0) {
    throw refuse('these volumes are bound to paths of the host', { volumes: bound.map((v) => v.Name) })
  }
}

/** A local volume made with `o=bind` or a `device` path mounts a path of the host. */
function bindsHostPath(volume: { Driver: string; Options?: Record<string, string> | null }): boolean {
  const options = volume.Options ?? {}
  return (
    volume.Driver === 'local' &&
    ((options.o ?? '').split(',').some((o) => o === 'bind' || o === 'rbind') ||
      (options.device ?? '').startsWith('/'))
  )
}
