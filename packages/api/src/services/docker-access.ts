import type { Actor } from '../context.ts'
import { ApiError } from '../errors.ts'

/**
 * The Docker API is root on the host: only an admin's session may open it. Refused with 403
 * `docker_forbidden` otherwise.
 */
export function assertDockerAccess(actor: Actor, _serverId: string): void {
  if (actor.type === 'user' && actor.role === 'admin') return
  throw new ApiError(
    'forbidden',
    "opening Docker on a server needs an admin's session or a token with the docker scope for that server",
    { code: 'docker_forbidden' },
  )
}
