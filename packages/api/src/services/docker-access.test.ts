import type { Role, Scope } from '@berth/shared'
import { describe, expect, test } from 'vitest'
import type { Actor } from '../context.ts'
import { ApiError } from '../errors.ts'
import { actorLevel } from './auth.ts'
import { assertDockerAccess, assertMayGrantDocker } from './docker-access.ts'

// Who may open Docker on a server, and who may hand that on in a new token.

const SERVER = 'srv_01jdockerhere'
const OTHER = 'srv_01jdockerelse'

const session = (role: Role): Actor => ({ type: 'user', userId: 'usr_1', role })
const token = (role: Role, scopes: Scope[], dockerServers: string[] = []): Actor => ({
  type: 'token',
  userId: 'usr_1',
  role,
  tokenId: 'tok_1',
  scopes,
  dockerServers,
  expiresAt: null,
})

/** The ApiError a check throws, or undefined when it lets the actor in. */
function refusal(check: () => void): ApiError | undefined {
  try {
    check()
    return undefined
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
}

describe('assertDockerAccess', () => {
  const refused = (actor: Actor) => refusal(() => assertDockerAccess(actor, SERVER))

  test("an admin's session opens Docker", () => {
    expect(refused(session('admin'))).toBeUndefined()
  })

  test("an admin's token with the docker scope naming the server opens Docker", () => {
    expect(refused(token('admin', ['read', 'docker'], [OTHER, SERVER]))).toBeUndefined()
  })

  test('a docker token opens Docker whatever its level scopes', () => {
    expect(refused(token('admin', ['docker'], [SERVER]))).toBeUndefined()
  })

  test('a member or a viewer is refused, by session or by any token', () => {
    for (const role of ['member', 'viewer'] as const) {
      for (const actor of [session(role), token(role, ['read', 'write', 'admin', 'docker'], [SERVER])]) {
        const err = refused(actor)
        expect(err?.status).toBe(403)
        expect(err?.code).toBe('docker_forbidden')
      }
    }
  })

  test("an admin's token without the docker scope is refused, even an admin token", () => {
    const err = refused(token('admin', ['read', 'write', 'admin']))
    expect(err).toMatchObject({ kind: 'forbidden', code: 'docker_forbidden' })
    expect(err?.message).toBe(
      "opening Docker on a server needs an admin's session or a token with the docker scope for that server",
    )
  })

  test("an admin's docker token naming other servers is refused on this one", () => {
    expect(refused(token('admin', ['read', 'docker'], [OTHER]))?.code).toBe('docker_forbidden')
  })

  test('servers named without the docker scope grant nothing', () => {
    expect(refused(token('admin', ['admin'], [SERVER]))?.code).toBe('docker_forbidden')
  })
})

describe('assertMayGrantDocker', () => {
  const refused = (actor: Actor, servers = [SERVER]) => refusal(() => assertMayGrantDocker(actor, servers))

  test("an admin's session grants docker on any server", () => {
    expect(refused(session('admin'), [SERVER, OTHER])).toBeUndefined()
  })

  test('a member or a viewer cannot grant docker: scope_exceeds_role', () => {
    for (const role of ['member', 'viewer'] as const) {
      for (const actor of [session(role), token(role, ['write', 'docker'], [SERVER])]) {
        const err = refused(actor)
        expect(err).toMatchObject({
          kind: 'forbidden',
          code: 'scope_exceeds_role',
          details: { scopes: ['docker'] },
        })
      }
    }
  })

  test("an admin's token grants docker only on the servers it opens itself: scope_exceeds_token", () => {
    expect(refused(token('admin', ['write', 'docker'], [SERVER, OTHER]), [SERVER])).toBeUndefined()
    const err = refused(token('admin', ['write', 'docker'], [SERVER]), [SERVER, OTHER])
    expect(err).toMatchObject({
      kind: 'forbidden',
      code: 'scope_exceeds_token',
      details: { scopes: ['docker'], docker_servers: [OTHER] },
    })
  })

  test("an admin's token without the docker scope cannot grant it", () => {
    const err = refused(token('admin', ['admin'], [SERVER]))
    expect(err).toMatchObject({ code: 'scope_exceeds_token', details: { docker_servers: [SERVER] } })
  })
})

describe('the docker scope is no level', () => {
  test("it neither raises nor lowers a token's level", () => {
    expect(actorLevel(token('admin', ['docker'], [SERVER]))).toBe('read')
    expect(actorLevel(token('admin', ['write', 'docker'], [SERVER]))).toBe('write')
    expect(actorLevel(token('member', ['admin', 'docker'], [SERVER]))).toBe('write')
  })
})
