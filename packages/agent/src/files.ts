import { OpError } from './errors.ts'
import type { OpHandlers } from './ops.ts'

// Files in containers: stat, download (a file as is, a directory as tar or zip), and unpacking
// an uploaded tar or zip, confined to the directory it is unpacked into.

const notYet = async (): Promise<never> => {
  throw new OpError('agent_error', 'files are not available on this agent yet')
}

export const fileOps: Pick<OpHandlers, 'files.stat' | 'files.get' | 'files.put'> = {
  'files.stat': notYet,
  'files.get': notYet,
  'files.put': notYet,
}
