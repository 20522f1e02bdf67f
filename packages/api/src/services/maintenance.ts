import type { ServiceContext } from '../context.ts'
import { pruneAudit } from './audit.ts'
import { expireDeployments } from './deployments/queue.ts'
import { pruneEnrollmentTokens, sweepSilentServers } from './servers.ts'
import { pruneStats } from './stats.ts'
import { pruneLoginFailures } from './users.ts'
import { pruneDeliveries } from './webhooks.ts'

/** Periodic housekeeping: a timer on Node, a Cron Trigger on Workers. */
export async function runMaintenance(ctx: ServiceContext): Promise<void> {
  await pruneLoginFailures(ctx)
  await pruneEnrollmentTokens(ctx)
  await sweepSilentServers(ctx)
  await pruneStats(ctx)
  await expireDeployments(ctx)
  await pruneAudit(ctx)
  await pruneDeliveries(ctx)
}
