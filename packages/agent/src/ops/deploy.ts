import type { AppHost } from '../deploy/apps.ts'
import { OpError } from '../errors.ts'
import type { AgentRuntime, OpHandlers } from './context.ts'

export const deployOps: Pick<
  OpHandlers,
  'deploy.start' | 'deploy.cancel' | 'deploy.status' | 'deploy.cleanup' | 'app.remove'
> = {
  'deploy.start': async (args, { agent }) => appsOf(agent).startDeploy(args),
  'deploy.cancel': ({ deployment_id }, { agent }) => appsOf(agent).cancelDeploy(deployment_id),
  'deploy.status': async ({ deployment_ids }, { agent }) => appsOf(agent).deployStatus(deployment_ids),
  'deploy.cleanup': (args, { agent, signal }) => appsOf(agent).cleanUp(args, signal),
  'app.remove': (args, { agent, signal }) => appsOf(agent).removeApp(args, signal),
}

export function appsOf(agent: AgentRuntime): AppHost {
  if (!agent.apps) throw new OpError('agent_error', 'this agent was started without apps')
  return agent.apps
}
