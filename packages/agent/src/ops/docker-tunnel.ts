import type { OpHandlers } from './context.ts'

/** Docker's own API, for clients that speak it: a connection to the engine, its bytes relayed as they are. */
export const dockerTunnelOps: Pick<OpHandlers, 'docker.dial'> = {
  'docker.dial': (_args, { docker, signal }) => docker.dial(signal),
}
