import { OpError } from './errors.ts'
import type { OpHandlers } from './ops.ts'

// Git in a container's checkout: the container's own git when it has one, else the host's git
// against the container's volume.

export const gitOps: Pick<OpHandlers, 'git.run'> = {
  'git.run': async () => {
    throw new OpError('agent_error', 'git is not available on this agent yet')
  },
}
