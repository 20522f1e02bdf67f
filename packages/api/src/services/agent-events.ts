import type { ServiceContext } from '../context.ts'
import type { AgentEvents } from '../hub/hub.ts'
import { recordJob, resumeDeployments } from './deployments/reports.ts'
import { recordAgentEvent } from './inventory.ts'
import { syncProxyQuietly } from './proxy.ts'
import { recordAgentOffline, recordAgentOnline, recordAgentsSeen } from './servers.ts'
import { recordStats } from './stats.ts'

/**
 * What each agent frame does to the API's state, for either runtime's hub. `forServer` is the
 * context for work done on behalf of one server (a deploy's next step), where a runtime reaches
 * that server's agent more directly than through `ctx`.
 */
export function agentEvents(input: {
  ctx: () => ServiceContext
  forServer?: (serverId: string) => ServiceContext
}): AgentEvents {
  const forServer = input.forServer ?? (() => input.ctx())
  return {
    online: async (serverId, hello, at) => {
      await recordAgentOnline(input.ctx(), { serverId, hello, at })
      try {
        await resumeDeployments(forServer(serverId), serverId)
      } finally {
        // Not awaited: the agent's later frames are recorded while it loads the routes.
        void syncProxyQuietly(forServer(serverId), serverId)
      }
    },
    offline: (serverId, at) => recordAgentOffline(input.ctx(), { serverId, at }),
    seen: (serverIds, at) => recordAgentsSeen(input.ctx(), { serverIds, at }),
    // The context of the server: a proxy.state event may call its agent back.
    event: (serverId, event, at) => recordAgentEvent(forServer(serverId), { serverId, event, at }),
    stats: (serverId, samples) => recordStats(input.ctx(), { serverId, samples }),
    job: (serverId, job) => recordJob(forServer(serverId), { serverId, job }),
  }
}
