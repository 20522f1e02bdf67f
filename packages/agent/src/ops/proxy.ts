import type { OpHandlers } from './context.ts'
import { appsOf } from './deploy.ts'

export const proxyOps: Pick<OpHandlers, 'proxy.sync' | 'proxy.status'> = {
  'proxy.sync': (args, { agent }) => appsOf(agent).syncRoutes(args),
  'proxy.status': ({ hostnames }, { agent }) => appsOf(agent).certificates(hostnames),
}
