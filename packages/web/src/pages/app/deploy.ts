import { request } from '@berth/client'
import { client } from '../../api.ts'
import type { Deployment } from './types.ts'

/**
 * Queues a deploy of an app: of its source as configured, or of an upload app's tarball, sent as
 * the request's body (the deploy route reads its body itself, so this call is untyped).
 */
export async function queueDeploy(appId: string, tarball?: File): Promise<Deployment> {
  const res = await request(client.value, `/apps/${encodeURIComponent(appId)}/deploy`, {
    method: 'POST',
    ...(tarball
      ? { headers: { 'Content-Type': 'application/gzip' }, body: tarball }
      : { headers: { 'Content-Type': 'application/json' }, body: '{}' }),
  })
  return ((await res.json()) as { deployment: Deployment }).deployment
}
