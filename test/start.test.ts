import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

test('npm start runs a local agent for the server named local, and keeps it across restarts', async () => {
  let api: ApiTarget | undefined
  try {
    api = await startApi({ localAgent: true })
    const started = api
    await waitFor('the start banner', () => started.output().includes('Health:'))
    expect(api.output()).toContain('Local agent: started for server "local"')
    expect(api.output()).toContain('Create the first user')
    const admin = await registerAdmin(api.http)

    const list = await api.http.get('/servers', { token: admin })
    const local = list.body.servers.find((s: { name: string }) => s.name === 'local')
    expect(local).toBeDefined()
    await waitForServerStatus(api.http, admin, local.id, 'online')
    expect((await api.http.post(`/servers/${local.id}/validate`, { token: admin })).status).toBe(200)

    // Secrets were generated once into the data folder, readable by the owner only.
    const secrets = join(api.dataDir, 'secrets.json')
    expect(statSync(secrets).mode & 0o777).toBe(0o600)
    expect(existsSync(join(api.dataDir, 'local-agent.json'))).toBe(true)
    const before = readFileSync(secrets, 'utf8')

    await api.restart()
    expect(readFileSync(secrets, 'utf8')).toBe(before)
    // The session from before the restart is still valid: the same secret signs it.
    await waitForServerStatus(api.http, admin, local.id, 'online')
    const again = await api.http.get('/servers', { token: admin })
    expect(again.body.servers.filter((s: { name: string }) => s.name === 'local')).toHaveLength(1)
  } finally {
    await api?.stop()
  }
})
