import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { tarOf } from '../packages/agent/src/testing/archives.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { dockerAudit } from './support/docker-tunnel.ts'
import { type AgentHost, createUser, expectErrorBody, startAgentHost } from './support/flows.ts'
import type { Reply } from './support/http.ts'
import type { ApiTarget } from './support/target.ts'

// /servers/:id/docker-api/…: Docker's Engine API over plain HTTP, replayed here as Nextcloud
// AppAPI's deploy daemon (lib/DeployActions/DockerActions.php) calls it to deploy an ExApp: its
// paths, methods and bodies, with its credential as Basic auth, against the real agent and Engine.

let host: AgentHost
let api: ApiTarget
let admin: string
let serverId: string
/** The token AppAPI's daemon is configured with: the docker scope on this server. */
let appToken: string
const run = Math.random().toString(36).slice(2, 7)
/** AppAPI names an ExApp's container nc_app_<appid>, its volume nc_app_<appid>_data. */
const appId = `t${run}-exapp`
const container = `nc_app_${appId}`
const volume = `${container}_data`

beforeAll(async () => {
  host = await startAgentHost('appapi-host', `t${run}-`)
  ;({ api, admin, serverId } = host)
  appToken = await mintToken(['docker'], [serverId])
})

afterAll(async () => {
  for (const name of [volume, `t${run}-audited`]) {
    try {
      docker('volume', 'rm', '-f', name)
    } catch {
      // already gone
    }
  }
  await host?.stop()
})

async function mintToken(scopes: string[], servers: string[]): Promise<string> {
  const body = {
    name: `appapi-${run}-${scopes.join('-')}`,
    scopes,
    ...(servers.length ? { docker_servers: servers } : {}),
  }
  const minted = await api.http.post('/tokens', { token: admin, body })
  expect(minted.status, minted.text).toBe(201)
  return minted.body.token.value
}

/** AppAPI's daemon credential: a user name and, as the password, Berth's token. */
const basic = (token: string, user = 'appapi') => `Basic ${btoa(`${user}:${token}`)}`

/** One call as AppAPI's Guzzle client makes it: JSON bodies, Basic auth, Docker's API version in the path. */
async function call(
  method: string,
  path: string,
  opts: { json?: unknown; raw?: Uint8Array; type?: string; auth?: string; server?: string } = {},
): Promise<Reply & { bytes: Uint8Array }> {
  const headers: Record<string, string> = { Authorization: opts.auth ?? basic(appToken) }
  let body: BodyInit | undefined
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json)
    headers['Content-Type'] = 'application/json'
  } else if (opts.raw) {
    body = new Blob([opts.raw as Uint8Array<ArrayBuffer>])
    headers['Content-Type'] = opts.type ?? 'application/octet-stream'
  }
  const res = await fetch(`${api.url}/api/v1/servers/${opts.server ?? serverId}/docker-api${path}`, {
    method,
    headers,
    body,
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  const text = new TextDecoder().decode(bytes)
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    // not JSON: the text is the body
  }
  return { status: res.status, headers: res.headers, body: parsed, text, bytes }
}

/** The payloads of Docker's multiplexed stdout/stderr stream (8-byte frame headers). */
function demux(bytes: Uint8Array): string {
  let out = ''
  for (let at = 0; at + 8 <= bytes.length; ) {
    const size = new DataView(bytes.buffer, bytes.byteOffset + at + 4, 4).getUint32(0)
    out += new TextDecoder().decode(bytes.subarray(at + 8, at + 8 + size))
    at += 8 + size
  }
  return out
}

/** AppAPI's executeCommandInContainer: exec create, then start without a hijack; the output. */
async function exec(cmd: string[]): Promise<string> {
  const created = await call('POST', `/v1.41/containers/${container}/exec`, {
    json: { Cmd: cmd, AttachStdout: true, AttachStderr: true },
  })
  expect(created.status, created.text).toBe(201)
  const started = await call('POST', `/v1.41/exec/${created.body.Id}/start`, {
    json: { Detach: false, Tty: false },
  })
  expect(started.status, started.text).toBe(200)
  expect(started.headers.get('content-type')).toBe('application/vnd.docker.raw-stream')
  return demux(started.bytes)
}

describe("AppAPI's deploy of an ExApp", () => {
  test('checks the daemon: _ping and version, with Docker fields', async () => {
    const ping = await call('GET', '/v1.41/_ping')
    expect(ping.status).toBe(200)
    expect(ping.text).toBe('OK')
    expect(ping.headers.get('api-version')).toMatch(/^1\.\d+$/)
    expect(ping.headers.get('x-request-id')).toMatch(/^req_/)
    const head = await fetch(`${api.url}/api/v1/servers/${serverId}/docker-api/_ping`, {
      method: 'HEAD',
      headers: { Authorization: basic(appToken) },
    })
    expect(head.status).toBe(200)
    expect(head.headers.get('ostype')).toBe('linux')
    const version = await call('GET', '/v1.41/version')
    expect(version.status).toBe(200)
    expect(version.body.Version).toBe(docker('version', '--format', '{{.Server.Version}}'))
  })

  test("pulls: Docker's own answer passes through; a local image is found, a missing one is not", async () => {
    // No registry is reachable here: Docker's error comes back unchanged, as its clients expect it.
    for (const image of [TEST_IMAGE, `berth-test/missing-${run}:latest`]) {
      const pulled = await call('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`)
      expect(pulled.status, pulled.text).toBe(500)
      expect(pulled.body).toEqual({ message: expect.stringMatching(/registry|lookup|dial/) })
      expect(pulled.headers.get('api-version')).toMatch(/^1\.\d+$/)
    }
    // AppAPI's "local" registry mapping checks the image instead of pulling it.
    const local = await call('GET', `/v1.41/images/${encodeURIComponent(TEST_IMAGE)}/json`)
    expect(local.status, local.text).toBe(200)
    expect(local.body.Id).toBe(docker('image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE))
    const missing = await call('GET', `/v1.41/images/${encodeURIComponent(`berth-test/missing-${run}`)}/json`)
    expect(missing.status).toBe(404)
    expect(missing.body.message).toMatch(/No such image/)
  })

  test('creates the volume and container, installs certificates, starts it, removes it; the container ran', async () => {
    const existing = await call('GET', `/v1.41/containers/${container}/json`)
    expect(existing.status).toBe(404)
    const vol = await call('POST', '/v1.41/volumes/create', { json: { name: volume } })
    expect(vol.status, vol.text).toBe(201)
    expect(vol.body.Name).toBe(volume)
    const created = await call('POST', `/v1.41/containers/create?name=${encodeURIComponent(container)}`, {
      json: {
        Image: TEST_IMAGE,
        Hostname: appId,
        HostConfig: {
          NetworkMode: 'bridge',
          Mounts: [{ Source: volume, Target: `/${volume}`, Type: 'volume', ReadOnly: false }],
          RestartPolicy: { Name: 'unless-stopped' },
        },
        Env: [`APP_ID=${appId}`, 'APP_PORT=23000', `APP_PERSISTENT_STORAGE=/${volume}`],
        // An ExApp's image brings its own command; the test image has none.
        Cmd: ['sh', '-c', 'trap "exit 0" TERM; echo exapp up; while :; do sleep 1; done'],
      },
    })
    expect(created.status, created.text).toBe(201)
    const id: string = created.body.Id

    // updateCerts: start, read the OS, copy the bundle in as a tar, stop.
    expect((await call('POST', `/v1.41/containers/${container}/start`)).status).toBe(204)
    expect(await exec(['cat', '/etc/os-release'])).toMatch(/os-release/)
    expect(await exec(['mkdir', '-p', '/usr/local/share/ca-certificates'])).toBe('')
    const cert = `-----BEGIN CERTIFICATE-----\n${run}\n-----END CERTIFICATE-----`
    const tar = await tarOf({ 'usr/local/share/ca-certificates/custom_cert_0.crt': cert })
    const put = await call('PUT', `/v1.41/containers/${container}/archive?path=${encodeURIComponent('/')}`, {
      raw: new Uint8Array(tar),
      type: 'application/x-tar',
    })
    expect(put.status, put.text).toBe(200)
    expect((await call('POST', `/v1.41/containers/${container}/stop`)).status).toBe(204)

    expect((await call('POST', `/v1.41/containers/${container}/start`)).status).toBe(204)
    const inspected = await call('GET', `/v1.41/containers/${container}/json`)
    expect(inspected.status).toBe(200)
    expect(inspected.body).toMatchObject({ Id: id, State: { Status: 'running' } })
    // The container it made runs, as the Docker CLI on the host's own socket sees it.
    expect(docker('inspect', '--format', '{{.State.Running}} {{.Config.Hostname}}', container)).toBe(
      `true ${appId}`,
    )
    expect(docker('exec', container, 'cat', '/usr/local/share/ca-certificates/custom_cert_0.crt')).toBe(cert)
    const logs = await call('GET', `/v1.41/containers/${container}/logs?stdout=true&stderr=true&tail=all`)
    expect(logs.status).toBe(200)
    expect(demux(logs.bytes)).toContain('exapp up')

    // The ExApp's removal.
    const removed = await call('DELETE', `/v1.41/containers/${container}?force=true`)
    expect(removed.status, removed.text).toBe(204)
    const gone = await call('DELETE', `/v1.41/volumes/${volume}`, { json: { name: volume } })
    expect(gone.status, gone.text).toBe(204)
    expect(docker('ps', '-aq', '--filter', `name=^${container}$`)).toBe('')
  })

  test('each call that changes something is audited by method and path, never its query or body', async () => {
    const audited = `t${run}-audited`
    const created = await call('POST', `/v1.41/volumes/create?from=${run}`, {
      json: { name: audited, Labels: { secret: 'hunter2' } },
    })
    expect(created.status, created.text).toBe(201)
    expect((await call('DELETE', `/v1.41/volumes/${audited}`)).status).toBe(204)
    const { actions, text } = await dockerAudit(api.http, admin)
    expect(actions).toContainEqual(['DOCKER POST /v1.41/volumes/create', 201, serverId])
    expect(actions).toContainEqual([`DOCKER DELETE /v1.41/volumes/${audited}`, 204, serverId])
    expect(text).not.toMatch(/hunter2|from=/)
  })
})

describe('who may call it', () => {
  test('no credential, or a bad one, is a 401 that asks for Basic', async () => {
    for (const auth of ['', basic('berth_pat_not-a-token'), 'Basic !!!']) {
      const res = await call('GET', '/v1.41/_ping', { auth })
      expectErrorBody(res, 401, 'auth_error')
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth"')
    }
  })

  test('a member, or a token without the docker scope for the server, is refused with 403', async () => {
    const member = await createUser(api.http, admin, 'member')
    const elsewhere = await api.http.post('/servers', { token: admin, body: { name: `t${run}-elsewhere` } })
    const refusedTo = [
      member.token,
      await mintToken(['read', 'write'], []),
      await mintToken(['docker'], [elsewhere.body.server.id]),
    ]
    for (const token of refusedTo) {
      const refused = await call('GET', '/v1.41/_ping', { auth: basic(token) })
      expectErrorBody(refused, 403, 'forbidden')
      expect(refused.body.code).toBe('docker_forbidden')
    }
  })

  test('an unknown server is a 404', async () => {
    const unknown = await call('GET', '/v1.41/_ping', { server: 'srv_unknown', auth: basic(admin) })
    expectErrorBody(unknown, 404, 'not_found')
  })

  test('a server whose agent is not connected is a 503 at once', async () => {
    const created = await api.http.post('/servers', { token: admin, body: { name: `t${run}-offline` } })
    const offline: string = created.body.server.id
    const res = await call('POST', `/v1.41/containers/create?name=t${run}-never`, {
      server: offline,
      json: { Image: TEST_IMAGE },
      auth: basic(await mintToken(['docker'], [offline])),
    })
    expectErrorBody(res, 503, 'agent_offline')
  })
})
