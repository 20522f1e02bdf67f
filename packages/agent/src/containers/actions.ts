import type { ContainerDetail, OpArgs } from '@berth/shared'
import { recast } from '../errors.ts'
import type { OpContext } from '../ops/context.ts'
import { portConflictOf } from './ports.ts'
import { detailOf } from './report.ts'

type ActionArgs = OpArgs<'container.action'>

/** A refusal older engines answer with 500 rather than 409, e.g. unpausing a container that is not paused. */
const STATE_REFUSAL =
  /is not paused|is already paused|is not running|is paused|is restarting|is dead|is marked for removal/i

export async function containerAction(
  args: ActionArgs,
  { docker, signal }: OpContext,
): Promise<ContainerDetail> {
  const { ref } = args
  try {
    switch (args.action) {
      case 'start':
        await docker.startContainer(ref, signal)
        break
      case 'stop':
        await docker.stopContainer(ref, args.timeout, signal)
        break
      case 'restart':
        await docker.restartContainer(ref, args.timeout, signal)
        break
      case 'pause':
        await docker.pauseContainer(ref, signal)
        break
      case 'unpause':
        await docker.unpauseContainer(ref, signal)
        break
      case 'kill':
        await docker.killContainer(ref, args.signal, signal)
        break
      default:
        args.action satisfies never
    }
  } catch (err) {
    throw portConflictOf(err) ?? stateRefusal(err)
  }
  return detailOf(await docker.inspectContainer(ref, signal))
}

/** Docker refusing what the container's state does not allow, as a state_error. */
export function stateRefusal(err: unknown): unknown {
  return recast(
    err,
    'state_error',
    (e) => e.status === 409 || (e.status === 500 && STATE_REFUSAL.test(e.message)),
  )
}
