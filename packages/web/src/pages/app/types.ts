import { api, call } from '../../api.ts'

// The shapes of an app's parts as the API answers them.

export const getApp = async (id: string) => (await call(api().apps[':id'].$get({ param: { id } }))).app
export const listDeployments = async (id: string) =>
  (await call(api().apps[':id'].deployments.$get({ param: { id }, query: { limit: '20' } }))).deployments

export type App = Awaited<ReturnType<typeof getApp>>
export type Deployment = Awaited<ReturnType<typeof listDeployments>>[number]

/** States a deployment is still moving through. */
export const IN_PROGRESS = ['queued', 'cloning', 'building', 'deploying']
export const inProgress = (state: string | null | undefined) => IN_PROGRESS.includes(state ?? '')
