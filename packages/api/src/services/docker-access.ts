import type { Actor } from '../context.ts'
import { ApiError } from '../errors.ts'

/**
 * The Docker API is root on the host: it opens to an admin's session, or to an API token with the
 * `docker` scope naming that server, while its owner is an admin. Refused with 403
 * `docker_forbidden` otherwise; a token's level scopes neither add nor take away from this.
 */
export function assertDockerAccess(actor: Actor, serverId: string): void {
  if (mayOpenDocker(actor, serverId)) return
  throw new ApiError(
    'forbidden',
    "opening Docker on a server needs an admin's session or a token with the docker scope for that server",
    { code: 'docker_forbidden' },
  )
}

function mayOpenDocker(actor: Actor, serverId: string): boolean {
  if (actor.role !== 'admin') return false
  if (actor.type === 'user') return true
  return actor.scopes.includes('docker') && actor.dockerServers.includes(serverId)
}

/**
 * Refuses a new token's `docker` scope on `serverIds` beyond what its creator holds: only an
 * admin grants it (`scope_exceeds_role`), and a token only on servers it opens itself
 * (`scope_exceeds_token`).
 */
export function assertMayGrantDocker(actor: Actor, serverIds: string[]): void {
  if (actor.role !== 'admin') {
    throw new ApiError('forbidden', `the ${actor.role} role cannot grant docker`, {
      code: 'scope_exceeds_role',
      details: { scopes: ['docker'] },
    })
  }
  if (actor.type === 'user') return
  const held = actor.scopes.includes('docker') ? actor.dockerServers : []
  const over = serverIds.filter((id) => !held.includes(id))
  if (over.length === 0) return
  throw new ApiError('forbidden', `this token cannot grant docker on ${over.join(', ')}`, {
    code: 'scope_exceeds_token',
    details: { scopes: ['docker'], docker_servers: over },
  })
}
