import { randomUUID } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { appHost, containersOf, dockerfile, fetchApp, imageExists } from './support/apps.ts'
import { waitForServerStatus } from './support/flows.ts'
import { waitFor } from './support/process.ts'

// Deployments that do not run to the end: cancelled, past their deadline, or with the agent or
// the API gone part way. Each test deploys its own app and leaves the agent and the API running.

const host = appHost()

/** Waits until a deployment's stored log shows `text`, as a user reading it would see the step start. */
async function waitForLogLine(deploymentId: string, text: string) {
  await waitFor(`"${text}" in the log of ${deploymentId}`, async () => {
    const res = await host.api.http.get(`/deployments/${deploymentId}/logs`, { token: host.admin })
    return res.body.lines?.some((l: any) => l.text.includes(text))
  })
}

describe('deployments cut short', () => {
  test('cancel during a build stops it and leaves nothing behind', async () => {
    const { api, admin, appName } = host
    const { app, repo } = await host.deployedApp({ name: 'cancel' })
    repo.commit({ Dockerfile: dockerfile('RUN sleep 60') }, 'slow build')
    const slow = await host.deploy(app.id)
    await host.waitState(slow.id, 'building')
    await waitForLogLine(slow.id, 'sleep 60')
    const res = await api.http.post(`/deployments/${slow.id}/cancel`, { token: admin })
    expect(res.status, res.text).toBe(202)
    const done = await host.waitDeployment(slow.id)
    expect(done.state).toBe('cancelled')
    expect(containersOf(slow.id)).toEqual([])
    expect(imageExists(`berth/${appName('cancel')}:${slow.id}`)).toBe(false)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version one\n')
    const again = await api.http.post(`/deployments/${slow.id}/cancel`, { token: admin })
    expect(again.status).toBe(422)
    expect(again.body.error).toBe('state_error')
  })

  test('a build past its deadline fails with the reason and leaves nothing behind', async () => {
    const { api, admin, appName } = host
    const { app, repo } = await host.deployedApp({ name: 'deadline' })
    repo.commit({ Dockerfile: dockerfile('RUN sleep 60') }, 'slow build')
    await api.http.patch(`/apps/${app.id}`, { token: admin, body: { deadlines: { build: 2 } } })
    const slow = await host.deploy(app.id)
    const done = await host.waitDeployment(slow.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/longer than 2 s/)
    expect(containersOf(slow.id)).toEqual([])
    expect(imageExists(`berth/${appName('deadline')}:${slow.id}`)).toBe(false)
  })

  test('a deploy queued while the agent is offline runs when it comes back', async () => {
    const { api, admin, serverId } = host
    const { app, repo } = await host.deployedApp({ name: 'offline' })
    await host.agent.stop()
    await waitForServerStatus(api.http, admin, serverId, 'offline')
    repo.commit({ 'index.html': 'version three\n' }, 'third version')
    const queued = await host.deploy(app.id)
    expect(queued.state).toBe('queued')
    // An upload cannot wait: its tarball has nowhere to go while the server is offline.
    const upload = await host.createApp({ name: host.appName('offline-upload'), source: { type: 'upload' } })
    const tarball = await fetch(`${api.url}/api/v1/apps/${upload.id}/deploy`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/gzip' },
      body: new Uint8Array(64),
    })
    expect(tarball.status).toBe(503)
    expect((await tarball.json()).error).toBe('agent_offline')
    expect((await api.http.get(`/apps/${upload.id}/deployments`, { token: admin })).body.deployments).toEqual(
      [],
    )
    // Deleting needs the agent, to take the app off its server, unless forced.
    expect((await api.http.delete(`/apps/${upload.id}`, { token: admin })).status).toBe(503)
    expect((await api.http.get(`/apps/${upload.id}`, { token: admin })).status).toBe(200)
    expect((await api.http.delete(`/apps/${upload.id}?force=true`, { token: admin })).status).toBe(204)
    expect((await api.http.get(`/apps/${upload.id}`, { token: admin })).status).toBe(404)
    // All the while the git deploy waited for its agent.
    expect((await api.http.get(`/deployments/${queued.id}`, { token: admin })).body.deployment.state).toBe(
      'queued',
    )
    host.restartAgent()
    await waitForServerStatus(api.http, admin, serverId, 'online')
    const done = await host.waitDeployment(queued.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version three\n')
  })

  test('the API killed mid-build: the agent carries on and reports the outcome after the restart', async () => {
    const { api, admin } = host
    const { app, repo } = await host.deployedApp({ name: 'api-killed' })
    const port = await host.hostPort(app.id)
    // A step of its own, so Docker's build cache cannot skip the build this test kills the API in.
    const slow = dockerfile(`RUN echo ${randomUUID()} && sleep 3`)
    repo.commit({ Dockerfile: slow, 'index.html': 'version four\n' }, 'fourth version')
    const dep = await host.deploy(app.id)
    await host.waitState(dep.id, 'building')
    await api.kill()
    // With the API down, the new version comes up on the host all the same.
    await waitFor(
      'the new version on its port',
      async () => (await fetchApp(port)) === 'version four\n',
      60_000,
    )
    await api.restart()
    const done = await host.waitDeployment(dep.id)
    expect(done.state, done.reason).toBe('running')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version four\n')
    const lines = (await api.http.get(`/deployments/${dep.id}/logs`, { token: admin })).body.lines
    expect(lines.map((l: any) => l.seq)).toEqual([...lines.keys()])
  })

  test('the agent killed mid-build: the deployment fails with the reason once it is back, nothing is left', async () => {
    const { appName } = host
    const { app, repo } = await host.deployedApp({ name: 'agent-killed' })
    repo.commit({ Dockerfile: dockerfile('RUN sleep 60') }, 'slow again')
    const dep = await host.deploy(app.id)
    await host.waitState(dep.id, 'building')
    await host.agent.stop('SIGKILL')
    host.restartAgent()
    const done = await host.waitDeployment(dep.id)
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/agent/)
    expect(containersOf(dep.id)).toEqual([])
    expect(imageExists(`berth/${appName('agent-killed')}:${dep.id}`)).toBe(false)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version one\n')
  })
})
