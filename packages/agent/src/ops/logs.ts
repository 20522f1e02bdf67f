import { OutputBatcher } from '../batch.ts'
import type { OpHandlers } from './context.ts'

export const logOps: Pick<OpHandlers, 'container.logs'> = {
  'container.logs': async (args, { docker, signal, emit }) => {
    const container = await docker.inspectContainer(args.ref, signal)
    const output = await docker.containerLogs(
      container.Id,
      {
        tty: container.Config.Tty === true,
        follow: args.follow,
        tail: args.tail,
        since: args.since,
        timestamps: args.timestamps,
      },
      signal,
    )
    const batch = new OutputBatcher((stream, data) => emit(stream, data))
    try {
      for await (const piece of output) await batch.push(piece.stream, piece.data)
    } finally {
      await batch.flush()
    }
    if (!args.follow) return {}
    // A followed log ends when the container stops: its exit code says how.
    const after = await docker.inspectContainer(container.Id, signal)
    return after.State.Status === 'exited' ? { exitCode: after.State.ExitCode } : {}
  },
}
