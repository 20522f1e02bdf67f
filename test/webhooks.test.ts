import { createHmac } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { appHost, fetchApp } from './support/apps.ts'

// Webhooks in: a signed push to an app's branch deploys it once; anything else deploys nothing.

const host = appHost()

/** A git app with a webhook of `provider`; `send` posts a push to it, `count` counts its deployments. */
async function hookedApp(name: string, provider: 'github' | 'gitlab' | 'gitea') {
  const { api, admin } = host
  const { app, repo } = await host.gitApp({ name })
  const hook = await api.http.post(`/apps/${app.id}/webhooks`, { token: admin, body: { provider } })
  expect(hook.status, hook.text).toBe(201)
  const send = (body: object, headers: Record<string, string>) =>
    fetch(`${api.url}/api/v1/webhooks/${provider}/${app.id}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const count = async () =>
    (await api.sql<{ n: number }>('select count(*) as n from deployments where app_id = ?', [app.id]))[0]!.n
  return { app, repo, webhook: hook.body.webhook, send, count }
}

const hmac = (key: string, body: string) => createHmac('sha256', key).update(body).digest('hex')

describe('webhooks', () => {
  test('a signed GitHub push to the branch deploys once; bad signatures, other branches and repeats do not', async () => {
    const { api, admin } = host
    const { app, repo, webhook, send, count } = await hookedApp('github', 'github')
    const { secret, url, id: hookId } = webhook
    expect(url).toBe(`${api.url}/api/v1/webhooks/github/${app.id}`)
    expect(
      (await api.http.get(`/apps/${app.id}/webhooks/${hookId}`, { token: admin })).body.webhook.secret,
    ).toBe(undefined)
    const sha = repo.commit({ 'index.html': 'version five\n' }, 'pushed version')
    const sign = (body: object, key = secret) => `sha256=${hmac(key, JSON.stringify(body))}`

    const ping = { zen: 'hi' }
    const pong = await send(ping, {
      'X-GitHub-Event': 'ping',
      'X-GitHub-Delivery': 'd-ping',
      'X-Hub-Signature-256': sign(ping),
    })
    expect(pong.status).toBe(200)
    expect((await pong.json()).status).toBe('pong')

    const before = await count()
    const garbled = await fetch(`${api.url}/api/v1/webhooks/github/${app.id}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': 'd-0',
        'X-Hub-Signature-256': `sha256=${hmac(secret, 'not json')}`,
      },
      body: 'not json',
    })
    expect(garbled.status).toBe(400)
    expect((await garbled.json()).error).toBe('validation_error')
    const push = { ref: 'refs/heads/main', after: sha }
    const forged = await send(push, {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-1',
      'X-Hub-Signature-256': sign(push, 'wrong secret'),
    })
    expect(forged.status).toBe(401)
    expect((await forged.json()).error).toBe('auth_error')
    expect(await count()).toBe(before)

    const other = { ref: 'refs/heads/feature', after: sha }
    const skipped = await send(other, {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-2',
      'X-Hub-Signature-256': sign(other),
    })
    expect((await skipped.json()).status).toBe('skipped')
    expect(await count()).toBe(before)

    const headers = {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': 'd-3',
      'X-Hub-Signature-256': sign(push),
    }
    const [first, repeat] = await Promise.all([send(push, headers), send(push, headers)])
    const outcomes = [await first.json(), await repeat.json()]
    const deployed = outcomes.find((o) => o.status === 'success')
    expect(deployed?.deployment_id).toMatch(/^dep_/)
    expect(await count()).toBe(before + 1)
    const done = await host.waitDeployment(deployed.deployment_id)
    expect(done.state, done.reason).toBe('running')
    expect(done.trigger).toBe('webhook')
    expect(done.commit.sha).toBe(sha)
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version five\n')

    const deliveries = (await api.http.get(`/apps/${app.id}/webhooks/${hookId}/deliveries`, { token: admin }))
      .body.deliveries
    expect(deliveries.map((d: any) => [d.delivery_id, d.status])).toEqual([
      ['d-3', 'success'],
      ['d-2', 'skipped'],
    ])
  })

  test('a GitLab push with the shared token deploys once for its delivery id; a wrong token does not', async () => {
    const { repo, webhook, send, count } = await hookedApp('gitlab', 'gitlab')
    const before = await count()
    const other = { ref: 'refs/heads/feature', after: 'f'.repeat(40) }
    const bad = await send(other, { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'nope' })
    expect(bad.status).toBe(401)
    const wrongBranch = await send(other, {
      'X-Gitlab-Event': 'Push Hook',
      'X-Gitlab-Token': webhook.secret,
      'X-Gitlab-Event-UUID': 'g-1',
    })
    expect((await wrongBranch.json()).status).toBe('skipped')
    expect(await count()).toBe(before)

    const pushed = repo.commit({ 'index.html': 'version six\n' }, 'pushed through gitlab')
    const gitlabPush = { ref: 'refs/heads/main', checkout_sha: pushed }
    const headers = {
      'X-Gitlab-Event': 'Push Hook',
      'X-Gitlab-Token': webhook.secret,
      'X-Gitlab-Event-UUID': 'g-2',
    }
    const viaGitlab = await (await send(gitlabPush, headers)).json()
    expect(viaGitlab.status).toBe('success')
    expect((await (await send(gitlabPush, headers)).json()).deployment_id).toBe(viaGitlab.deployment_id)
    const fromGitlab = await host.waitDeployment(viaGitlab.deployment_id)
    expect(fromGitlab.commit?.sha).toBe(pushed)
    expect(await count()).toBe(before + 1)
  })

  test('a Gitea push signed without prefix deploys once; a bad signature does not', async () => {
    const { app, repo, webhook, send, count } = await hookedApp('gitea', 'gitea')
    const before = await count()
    const other = { ref: 'refs/heads/feature', after: 'f'.repeat(40) }
    const giteaSkip = await send(other, {
      'X-Gitea-Event': 'push',
      'X-Gitea-Delivery': 'e-1',
      'X-Gitea-Signature': hmac(webhook.secret, JSON.stringify(other)),
    })
    expect((await giteaSkip.json()).status).toBe('skipped')
    const giteaBad = await send(other, {
      'X-Gitea-Event': 'push',
      'X-Gitea-Delivery': 'e-2',
      'X-Gitea-Signature': 'ab'.repeat(32),
    })
    expect(giteaBad.status).toBe(401)
    expect(await count()).toBe(before)

    const giteaPush = {
      ref: 'refs/heads/main',
      after: repo.commit({ 'index.html': 'version seven\n' }, 'via gitea'),
    }
    const headers = {
      'X-Gitea-Event': 'push',
      'X-Gitea-Delivery': 'e-3',
      'X-Gitea-Signature': hmac(webhook.secret, JSON.stringify(giteaPush)),
    }
    const viaGitea = await (await send(giteaPush, headers)).json()
    expect(viaGitea.status).toBe('success')
    await send(giteaPush, headers)
    const fromGitea = await host.waitDeployment(viaGitea.deployment_id)
    expect(fromGitea.state, fromGitea.reason).toBe('running')
    expect(await fetchApp(await host.hostPort(app.id))).toBe('version seven\n')
    expect(await count()).toBe(before + 1)
  })
})
