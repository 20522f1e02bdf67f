import { containerAction, stateRefusal } from '../containers/actions.ts'
import { createContainer } from '../containers/create.ts'
import { recreateContainer } from '../containers/recreate.ts'
import { cpusOf, detailOf, listSummaries } from '../containers/report.ts'
import { limitsOf } from '../containers/spec.ts'
import { sampleNow } from '../stats.ts'
import type { OpHandlers } from './context.ts'

export const containerOps: Pick<
  OpHandlers,
  | 'container.list'
  | 'container.create'
  | 'container.inspect'
  | 'container.update'
  | 'container.recreate'
  | 'container.action'
  | 'container.remove'
  | 'container.stats'
> = {
  'container.list': async (_args, { docker, signal }) => ({
    containers: await listSummaries(docker, signal),
  }),
  'container.create': (args, ctx) => createContainer(args, ctx),
  'container.inspect': async ({ ref }, { docker, signal }) =>
    detailOf(await docker.inspectContainer(ref, signal)),
  'container.update': async ({ ref, resources }, { docker, signal, agent }) => {
    await docker.updateContainer(ref, limitsOf(resources), signal).catch((err: unknown) => {
      throw stateRefusal(err)
    })
    const container = await docker.inspectContainer(ref, signal)
    agent.stats.setLimit(container.Id, cpusOf(container))
    return detailOf(container)
  },
  'container.recreate': (args, ctx) => recreateContainer(args, ctx),
  'container.action': (args, ctx) => containerAction(args, ctx),
  'container.remove': async ({ ref, force, volumes }, { docker, signal }) => {
    const { Id } = await docker.inspectContainer(ref, signal)
    await docker.removeContainer(Id, { force, volumes }, signal).catch((err: unknown) => {
      throw stateRefusal(err)
    })
    return { docker_id: Id }
  },
  'container.stats': async ({ ref }, { docker, signal, agent }) => {
    const container = await docker.inspectContainer(ref, signal)
    return sampleNow(docker, container.Id, cpusOf(container), agent.stats, signal)
  },
}
