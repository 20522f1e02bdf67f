import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { dockerRequest, openTunnel, tunnelRefusal } from './support/docker-tunnel.ts'
import { createUser, expectErrorBody, registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Reply } from './support/http.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Tokens with the docker scope: who may mint one, for which servers, what the token shows, and
// what it opens. A real API on Node or under workerd; server A has a real agent and Docker.

let api: ApiTarget
let admin: string
let serverA: string
let serverB: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId: serverA, agent } = await startServerWithAgent(api, admin, `dock-a-${run}`))
  serverB = await createServer(`dock-b-${run}`)
})
afterAll(async () => {
  await agent?.stop()
  await api?.stop()
})

async function createServer(name: string): Promise<string> {
  const res = await api.http.post('/servers', { token: admin, body: { name } })
  expect(res.status, res.text).toBe(201)
  return res.body.server.id
}

const mint = (bearer: string, body: Record<string, unknown>) =>
  api.http.post('/tokens', { token: bearer, body: { name: `docker-${run}`, ...body } })

async function minted(bearer: string, body: Record<string, unknown>): Promise<string> {
  const res = await mint(bearer, body)
  expect(res.status, res.text).toBe(201)
  return res.body.token.value
}

function expectRefused(res: Reply, status: number, error: string, code: string) {
  expectErrorBody(res, status, error)
  expect(res.body.code).toBe(code)
}

/** The names of the caller's tokens, to see that a refused one was never made. */
const tokenNames = async (bearer: string) =>
  ((await api.http.get('/tokens', { token: bearer })).body.tokens as { name: string }[]).map((t) => t.name)

describe('an admin mints docker tokens', () => {
  test('the token shows its servers when made, in the list and in /auth/me', async () => {
    const res = await mint(admin, {
      name: 'deployer',
      scopes: ['read', 'docker'],
      docker_servers: [serverA, serverB],
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body.token).toMatchObject({ name: 'deployer', scopes: ['read', 'docker'] })
    expect(res.body.token.docker_servers).toEqual([serverA, serverB])
    const listed = (await api.http.get('/tokens', { token: admin })).body.tokens.find(
      (t: { id: string }) => t.id === res.body.token.id,
    )
    expect(listed).toMatchObject({ scopes: ['read', 'docker'], docker_servers: [serverA, serverB] })
    expect(listed.value).toBeUndefined()
    const me = await api.http.get('/auth/me', { token: res.body.token.value })
    expect(me.body.auth).toMatchObject({ type: 'token', docker_servers: [serverA, serverB] })
  })

  test('a token without the docker scope names no servers', async () => {
    const res = await mint(admin, { name: 'plain', scopes: ['write'] })
    expect(res.status, res.text).toBe(201)
    expect(res.body.token.docker_servers).toEqual([])
  })

  test('a token whose only scope is docker reads the rest of the API and writes nothing', async () => {
    const value = await minted(admin, { scopes: ['docker'], docker_servers: [serverA] })
    expect((await api.http.get('/servers', { token: value })).status).toBe(200)
    const write = await api.http.post('/servers', { token: value, body: { name: `never-${run}` } })
    expectRefused(write, 403, 'forbidden', 'insufficient_permissions')
  })

  test("a deleted server's id stays on the token", async () => {
    const gone = await createServer(`dock-gone-${run}`)
    const res = await mint(admin, { name: 'outlives', scopes: ['read', 'docker'], docker_servers: [gone] })
    expect(res.status, res.text).toBe(201)
    expect((await api.http.delete(`/servers/${gone}`, { token: admin })).status).toBe(204)
    const me = await api.http.get('/auth/me', { token: res.body.token.value })
    expect(me.body.auth.docker_servers).toEqual([gone])
  })
})

describe('docker_servers goes with the docker scope', () => {
  test('the docker scope without servers, or with an empty list, is a 400', async () => {
    for (const body of [{ scopes: ['docker'] }, { scopes: ['read', 'docker'], docker_servers: [] }]) {
      const res = await mint(admin, { ...body, name: 'no-servers' })
      expectRefused(res, 400, 'validation_error', 'validation_error')
      expect(res.body.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: 'docker_servers' })]),
      )
    }
    expect(await tokenNames(admin)).not.toContain('no-servers')
  })

  test('servers without the docker scope are a 400', async () => {
    const res = await mint(admin, { name: 'stray', scopes: ['read'], docker_servers: [serverA] })
    expectRefused(res, 400, 'validation_error', 'validation_error')
    expect(res.body.details).toEqual([expect.objectContaining({ path: 'docker_servers' })])
    expect(await tokenNames(admin)).not.toContain('stray')
  })

  test('more than 100 servers is a 400', async () => {
    const many = Array.from({ length: 101 }, () => serverA)
    const res = await mint(admin, { name: 'many', scopes: ['docker'], docker_servers: many })
    expectRefused(res, 400, 'validation_error', 'validation_error')
  })

  test('an id that is no server is a 400 naming it', async () => {
    const unknown = 'srv_01jnosuchserver0000000000'
    const res = await mint(admin, { name: 'unknown', scopes: ['docker'], docker_servers: [serverA, unknown] })
    expectRefused(res, 400, 'validation_error', 'validation_error')
    expect(res.body.details).toEqual([{ path: 'docker_servers', message: `there is no server ${unknown}` }])
    expect(await tokenNames(admin)).not.toContain('unknown')
  })
})

describe('who may grant docker', () => {
  test('a member cannot mint a docker token, by session or by token', async () => {
    const member = await createUser(api.http, admin, 'member')
    const writer = await minted(member.token, { scopes: ['write'] })
    for (const bearer of [member.token, writer]) {
      const res = await mint(bearer, { scopes: ['read', 'docker'], docker_servers: [serverA] })
      expectRefused(res, 403, 'forbidden', 'scope_exceeds_role')
      expect(res.body.details).toEqual({ scopes: ['docker'] })
    }
    expect(await tokenNames(member.token)).toHaveLength(1)
  })

  test("an admin's token without the docker scope cannot grant it", async () => {
    const writer = await minted(admin, { name: 'writer', scopes: ['admin'] })
    const res = await mint(writer, { name: 'passed-on', scopes: ['docker'], docker_servers: [serverA] })
    expectRefused(res, 403, 'forbidden', 'scope_exceeds_token')
    expect(res.body.details).toEqual({ scopes: ['docker'], docker_servers: [serverA] })
    expect(await tokenNames(admin)).not.toContain('passed-on')
  })

  test("an admin's docker token grants docker on its own servers and no others", async () => {
    const holder = await minted(admin, { scopes: ['write', 'docker'], docker_servers: [serverA] })
    const same = await mint(holder, {
      name: 'narrower',
      scopes: ['read', 'docker'],
      docker_servers: [serverA],
    })
    expect(same.status, same.text).toBe(201)
    expect(same.body.token.docker_servers).toEqual([serverA])
    const wider = await mint(holder, {
      name: 'wider',
      scopes: ['docker'],
      docker_servers: [serverA, serverB],
    })
    expectRefused(wider, 403, 'forbidden', 'scope_exceeds_token')
    expect(wider.body.details).toEqual({ scopes: ['docker'], docker_servers: [serverB] })
    expect(await tokenNames(admin)).not.toContain('wider')
  })
})

describe('what a docker token opens', () => {
  /** An open Docker connection that has answered a ping. */
  async function pinged(token: string) {
    const tunnel = await openTunnel(api.url, serverA, token)
    tunnel.send(dockerRequest('GET', '/_ping'))
    expect(await tunnel.waitFor('\r\n\r\nOK')).toMatch(/^HTTP\/1\.1 200 OK/)
    return tunnel
  }

  test("an admin's docker token opens Docker on the server it names", async () => {
    const tunnel = await pinged(await minted(admin, { scopes: ['docker'], docker_servers: [serverA] }))
    tunnel.close()
  })

  test("an admin's token without the scope, or naming other servers, is refused with 403", async () => {
    const plain = await minted(admin, { scopes: ['admin'] })
    const elsewhere = await minted(admin, { scopes: ['read', 'docker'], docker_servers: [serverB] })
    for (const token of [plain, elsewhere]) {
      const { status, body } = await tunnelRefusal(api.url, serverA, token)
      expect(status).toBe(403)
      expect(body).toMatchObject({ error: 'forbidden', code: 'docker_forbidden', status: 403 })
    }
  })

  test('a revoked docker token closes its open connection with 4401', async () => {
    const res = await mint(admin, { scopes: ['docker'], docker_servers: [serverA] })
    const tunnel = await pinged(res.body.token.value)
    expect((await api.http.delete(`/tokens/${res.body.token.id}`, { token: admin })).status).toBe(204)
    expect((await tunnel.closed).code).toBe(4401)
  })

  test('a docker token whose owner is no longer an admin is closed with 4403 and refused after', async () => {
    const owner = await createUser(api.http, admin, 'admin')
    const value = await minted(owner.token, { scopes: ['docker'], docker_servers: [serverA] })
    const tunnel = await pinged(value)
    const demoted = await api.http.patch(`/users/${owner.id}`, { token: admin, body: { role: 'member' } })
    expect(demoted.status, demoted.text).toBe(200)
    expect((await tunnel.closed).code).toBe(4403)
    expect(tunnel.frames.at(-1)).toMatchObject({ type: 'error', error: { code: 'docker_forbidden' } })
    expect((await tunnelRefusal(api.url, serverA, value)).body.code).toBe('docker_forbidden')
  })
})
