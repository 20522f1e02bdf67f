import type { OpResult } from '@berth/shared'
import { unixMs } from '../containers/report.ts'
import type { NetworkListing } from '../docker/index.ts'
import { recast } from '../errors.ts'
import type { OpHandlers } from './context.ts'

const USED_BY_CONTAINER = /has active endpoints/i

export const networkOps: Pick<OpHandlers, 'network.list' | 'network.create' | 'network.remove'> = {
  'network.list': async (_args, { docker, signal }) => ({
    networks: (await docker.listNetworks(signal)).map(networkInfo),
  }),
  'network.create': async (args, { docker, signal }) => {
    const id = await docker.createNetwork(args, signal)
    return { network: networkInfo(await docker.inspectNetwork(id, signal)) }
  },
  'network.remove': async ({ ref }, { docker, signal }) => {
    // Docker answers 403 both for a built-in network (state_error) and for one containers still use.
    await docker.removeNetwork(ref, signal).catch((err: unknown) => {
      throw recast(err, 'conflict', (e) => USED_BY_CONTAINER.test(e.message))
    })
    return {}
  },
}

function networkInfo(network: NetworkListing): OpResult<'network.list'>['networks'][number] {
  return {
    id: network.Id,
    name: network.Name,
    driver: network.Driver,
    scope: network.Scope,
    internal: network.Internal,
    labels: network.Labels ?? {},
    created_at: unixMs(network.Created),
  }
}
