import { createHmac } from 'node:crypto'
import { Webhooks } from '@octokit/webhooks'
import { describe, expect, test } from 'vitest'
import { appHost } from './support/apps.ts'
import { docker } from './support/docker.ts'

// Replayed webhooks: a push resent under new delivery ids deploys its commit once. GitHub's
// deliveries are signed by @octokit/webhooks.

const host = appHost({ env: { BERTH_MAINTENANCE_MS: '500' } })
const run = Math.random().toString(36).slice(2, 7)

/** Posts raw webhook bodies to one app, and counts its deployments. */
function webhookSender(appId: string) {
  return {
    send: (provider: string, body: string, headers: Record<string, string>) =>
      fetch(`${host.api.url}/api/v1/webhooks/${provider}/${appId}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body,
      }),
    deploymentCount: async () =>
      (
        await host.api.sql<{ n: number }>('select count(*) as n from deployments where app_id = ?', [appId])
      )[0]!.n,
  }
}

describe('replayed webhooks', () => {
  test('a signed GitHub push resent under new delivery ids deploys nothing while its commit is queued or deployed', async () => {
    const { api, admin } = host
    const { app, repo } = await host.gitApp({ name: 'hooks-github' })
    const appId = app.id
    const { send, deploymentCount } = webhookSender(appId)
    const hook = await api.http.post(`/apps/${appId}/webhooks`, {
      token: admin,
      body: { provider: 'github' },
    })
    expect(hook.status, hook.text).toBe(201)
    const github = new Webhooks({ secret: hook.body.webhook.secret })
    const sha = repo.commit({ 'index.html': 'pushed through github\n' }, 'pushed through github')
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'o/r' } })
    const headers = (delivery: string | null) => ({
      'X-GitHub-Event': 'push',
      ...(delivery ? { 'X-GitHub-Delivery': delivery } : {}),
    })
    const signature = await github.sign(body)
    const deliver = (delivery: string | null) =>
      send('github', body, { ...headers(delivery), 'X-Hub-Signature-256': signature })
    const before = await deploymentCount()

    // Resent at once under several ids: one deployment, the others skipped.
    const burst = await Promise.all([1, 2, 3, 4].map((n) => deliver(`gh-${run}-${n}`)))
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 200, 202])
    const outcomes = await Promise.all(burst.map((r) => r.json()))
    const queued = outcomes.find((o) => o.status === 'success')
    expect(queued.deployment_id).toMatch(/^dep_/)
    for (const o of outcomes.filter((o) => o !== queued)) {
      expect(o).toMatchObject({ status: 'skipped', deployment_id: null })
      expect(o.reason).toMatch(new RegExp(`commit ${sha} is already`))
    }
    // Resent while that deployment is queued or under way: nothing new.
    const replay = await deliver(`gh-${run}-5`)
    expect(replay.status).toBe(200)
    const skipped = await replay.json()
    expect(skipped).toMatchObject({ status: 'skipped', deployment_id: null })
    expect(skipped.reason).toMatch(new RegExp(`commit ${sha} is already`))
    expect(await deploymentCount()).toBe(before + 1)

    const done = await host.waitDeployment(queued.deployment_id, 90_000)
    expect(done.state, done.reason).toBe('running')
    expect(done.commit.sha).toBe(sha)
    // Resent once deployed, under ever new ids: nothing new.
    for (const n of [6, 7, 8]) {
      const again = await deliver(`gh-${run}-${n}`)
      expect(again.status).toBe(200)
      expect(await again.json()).toMatchObject({
        status: 'skipped',
        reason: `commit ${sha} is already deployed`,
      })
    }
    // Without a delivery id: refused, nothing recorded.
    const deliveries = async () =>
      (await api.http.get(`/apps/${appId}/webhooks/${hook.body.webhook.id}/deliveries`, { token: admin }))
        .body.deliveries.length
    const recorded = await deliveries()
    const missing = await deliver(null)
    const missingBody = await missing.json()
    expect(missingBody).toMatchObject({ error: 'validation_error', code: 'missing_delivery_id', status: 400 })
    expect(missingBody.request_id).toBe(missing.headers.get('x-request-id'))
    expect(await deliveries()).toBe(recorded)
    // A delivery id seen before is answered with what was done then.
    const seen = await (await deliver(`gh-${run}-${outcomes.indexOf(queued) + 1}`)).json()
    expect(seen).toMatchObject({ duplicate: true, deployment_id: queued.deployment_id })
    expect(await deploymentCount()).toBe(before + 1)
    expect(
      docker('ps', '-q', '--filter', `label=berth.app.name=${host.appName('hooks-github')}`)
        .split('\n')
        .filter(Boolean),
    ).toHaveLength(1)
  })

  test('GitLab and Gitea pushes of the deployed commit under new delivery ids deploy nothing; no id is a 400', async () => {
    const { api, admin } = host
    const appId = (await host.deployedApp({ name: 'hooks-replay' })).app.id
    const { send, deploymentCount } = webhookSender(appId)
    const current = (await api.http.get(`/apps/${appId}`, { token: admin })).body.app.current_deployment_id
    const sha = (await api.http.get(`/deployments/${current}`, { token: admin })).body.deployment.commit.sha
    const before = await deploymentCount()

    const gitlab = (
      await api.http.post(`/apps/${appId}/webhooks`, { token: admin, body: { provider: 'gitlab' } })
    ).body.webhook
    const gitlabBody = JSON.stringify({ ref: 'refs/heads/main', checkout_sha: sha, after: sha })
    const gitlabHeaders = { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': gitlab.secret }
    for (const n of [1, 2]) {
      const res = await send('gitlab', gitlabBody, {
        ...gitlabHeaders,
        'X-Gitlab-Event-UUID': `gl-${run}-${n}`,
      })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({
        status: 'skipped',
        reason: `commit ${sha} is already deployed`,
      })
    }
    const gitlabMissing = await send('gitlab', gitlabBody, gitlabHeaders)
    expect(await gitlabMissing.json()).toMatchObject({
      error: 'validation_error',
      code: 'missing_delivery_id',
    })

    const gitea = (
      await api.http.post(`/apps/${appId}/webhooks`, { token: admin, body: { provider: 'gitea' } })
    ).body.webhook
    const giteaBody = JSON.stringify({ ref: 'refs/heads/main', after: sha })
    const giteaHeaders = {
      'X-Gitea-Event': 'push',
      'X-Gitea-Signature': createHmac('sha256', gitea.secret).update(giteaBody).digest('hex'),
    }
    for (const n of [1, 2]) {
      const res = await send('gitea', giteaBody, { ...giteaHeaders, 'X-Gitea-Delivery': `ge-${run}-${n}` })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({
        status: 'skipped',
        reason: `commit ${sha} is already deployed`,
      })
    }
    const giteaMissing = await send('gitea', giteaBody, giteaHeaders)
    expect(await giteaMissing.json()).toMatchObject({
      error: 'validation_error',
      code: 'missing_delivery_id',
    })
    // A wrong signature is still a 401 first, whether or not the id is there.
    const forged = await send('gitea', giteaBody, { ...giteaHeaders, 'X-Gitea-Signature': 'ab'.repeat(32) })
    expect(forged.status).toBe(401)
    expect(await deploymentCount()).toBe(before)
  })
})
