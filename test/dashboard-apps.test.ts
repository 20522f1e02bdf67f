import { execFileSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { appHost, dockerfile, repository } from './support/apps.ts'
import { seriousViolations } from './support/axe.ts'
import { ARTIFACTS, type Dashboard, launchDashboard, signInInBrowser } from './support/browser.ts'
import { type Caddy, startCaddy } from './support/caddy.ts'
import { TEST_IMAGE } from './support/docker.ts'
import { ADMIN } from './support/flows.ts'

// The apps pages in Chromium against a real API, a real agent process, Docker, git and a Caddy
// the agent drives (for domains): each test makes its own app and signs in in a tab of its own.

let caddy: Caddy
const host = appHost({ env: { BERTH_MAINTENANCE_MS: '1000' } }, async () => {
  caddy = await startCaddy({ name: 'dashboard-apps' })
  return { agentEnv: caddy.agentEnv }
})
let dashboard: Dashboard
// What a page shows after a round trip to the API and its agent: given longer than poll's 1 s on a busy machine.
const poll: typeof expect.poll = (fn, options) => expect.poll(fn, { timeout: 15_000, ...options })

beforeAll(async () => {
  dashboard = await launchDashboard(host.api.url)
})

afterAll(async () => {
  await dashboard?.close()
  await caddy?.stop()
})

/** A tab signed in as the admin, at `path`. */
async function signedIn(path: string, options?: { width?: number; dark?: boolean }): Promise<Page> {
  const page = await dashboard.open('/', options)
  await signInInBrowser(page, ADMIN.email, ADMIN.password)
  await page.goto(path)
  return page
}

const imageApp = (what: string) =>
  host.createApp({ name: host.appName(what), source: { type: 'image', image: TEST_IMAGE } })

/** The state the build log shows, and the deployment it shows it for. */
const shownState = (page: Page) => page.getByTestId('deployment-state').textContent()
const shownDeployment = (page: Page) => page.locator('#build-log .mono').textContent()

async function waitRunning(page: Page) {
  await poll(() => shownState(page), { timeout: 90_000 }).toBe('running')
}

describe('creating and deploying', () => {
  test('a git app is created on the page, deployed with Deploy, and its log reaches running', async () => {
    const repo = repository(host.work, 'dash-git')
    repo.commit({ Dockerfile: dockerfile('RUN echo "hello from the build"'), 'index.html': 'one\n' }, 'first')
    const name = host.appName('dash-git')
    const page = await signedIn('/apps')
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor()
    expect(await seriousViolations(page)).toEqual([])
    await page.getByRole('link', { name: 'Create an app' }).click()
    await page.getByRole('heading', { name: 'Create an app' }).waitFor()
    expect(await seriousViolations(page)).toEqual([])
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Repository URL').fill(repo.url)
    await page.getByLabel('Branch').fill('main')
    await page.getByRole('button', { name: 'Create app' }).click()
    await page.getByRole('heading', { name, level: 1 }).waitFor()
    expect(page.url()).toMatch(/\/apps\/app_\w+$/)
    await poll(() => page.getByText('Not deployed yet.').count()).toBe(1)

    await page.getByRole('button', { name: 'Deploy', exact: true }).click()
    await poll(() => shownDeployment(page)).toMatch(/^dep_/)
    await waitRunning(page)
    const log = page.getByRole('region', { name: 'Build output' })
    await poll(() => log.textContent()).toContain('hello from the build')
    const stages = page.getByRole('list', { name: 'Stages' })
    expect(await stages.getByRole('listitem').allTextContents()).toEqual([
      'queued',
      'cloning',
      'building',
      'deploying',
      'running',
    ])
    expect(await stages.locator('li.done').count()).toBe(5)
    // The summary follows the deployment that finished: it is the current one now.
    const id = await shownDeployment(page)
    await poll(() => page.locator('dl.facts').textContent()).toContain(`Current deployment${id}`)
    expect(await seriousViolations(page)).toEqual([])
    mkdirSync(join(ARTIFACTS, 'screenshots'), { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'screenshots/app.png'), fullPage: true })

    await page.getByRole('link', { name: 'Apps', exact: true }).first().click()
    const row = page.getByRole('row').filter({ hasText: name })
    await poll(() => row.textContent()).toContain('running')
    expect(await row.textContent()).toContain(id)
  })

  test('an upload app is created with its tarball chosen on the page and deployed from it', async () => {
    const dir = join(host.work, 'dash-upload')
    mkdirSync(dir)
    writeFileSync(join(dir, 'Dockerfile'), dockerfile('RUN echo "built from the upload"'))
    writeFileSync(join(dir, 'index.html'), 'uploaded\n')
    const tarball = join(host.work, 'dash-upload.tar.gz')
    execFileSync('tar', ['-czf', tarball, '-C', dir, '.'])
    const name = host.appName('dash-upload')
    const page = await signedIn('/apps/new')
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Upload a tarball').check()
    await page.getByLabel(/^Tarball/).setInputFiles(tarball)
    await page.getByRole('button', { name: 'Create and deploy' }).click()
    await page.getByRole('heading', { name, level: 1 }).waitFor()
    await waitRunning(page)
    await poll(() => page.getByRole('region', { name: 'Build output' }).textContent()).toContain(
      'built from the upload',
    )
  })

  test('a name already taken is refused with the API message, its code and request id', async () => {
    const taken = await imageApp('dash-taken')
    const page = await signedIn('/apps/new')
    await page.getByLabel('Name').fill(taken.name)
    await page.getByLabel('Docker image').check()
    await page.getByLabel('Image', { exact: true }).fill(TEST_IMAGE)
    await page.getByRole('button', { name: 'Create app' }).click()
    await poll(() => page.getByRole('alert').textContent()).toMatch(
      new RegExp(`^an app named ${taken.name} already exists \\(app_name_taken, request req_\\w+\\)$`),
    )
  })
})

describe('deployments', () => {
  test('a second deploy supersedes the first, and rolling back runs the first image again', async () => {
    const { app, deployment: first } = await host.deployedApp({ name: 'dash-roll' })
    const page = await signedIn(`/apps/${app.id}`)
    await poll(() => shownDeployment(page)).toBe(first.id)
    await page.getByRole('button', { name: 'Deploy', exact: true }).click()
    await poll(() => shownDeployment(page)).not.toBe(first.id)
    const second = (await shownDeployment(page))!
    await waitRunning(page)
    const firstRow = page.getByRole('row').filter({ hasText: first.id })
    await poll(() => firstRow.textContent()).toContain('superseded')

    await page.getByRole('button', { name: `Roll back to ${first.id}` }).click()
    await poll(() => shownDeployment(page)).not.toBe(second)
    const rollback = (await shownDeployment(page))!
    await waitRunning(page)
    const row = page.getByRole('row').filter({ hasText: rollback })
    await poll(() => row.textContent()).toContain(`rollbackof ${first.id}`)
    // The row is marked current once the app is read again after the rollback finished.
    await poll(() => row.textContent()).toContain('current')
    const res = await host.api.http.get(`/deployments/${rollback}`, { token: host.admin })
    expect(res.body.deployment).toMatchObject({ state: 'running', image: first.image, rollback_of: first.id })
  })

  test('a deployment still building is cancelled from the history, and the log ends cancelled', async () => {
    const { app } = await host.gitApp({
      name: 'dash-cancel',
      files: { Dockerfile: dockerfile('RUN echo "long build" && sleep 120'), 'index.html': 'slow\n' },
    })
    const page = await signedIn(`/apps/${app.id}`)
    await page.getByRole('button', { name: 'Deploy', exact: true }).click()
    await poll(() => page.getByRole('region', { name: 'Build output' }).textContent(), {
      timeout: 60_000,
    }).toContain('long build')
    const id = (await shownDeployment(page))!
    await page.getByRole('button', { name: `Cancel ${id}` }).click()
    await poll(() => shownState(page), { timeout: 30_000 }).toBe('cancelled')
    await poll(() => page.getByRole('row').filter({ hasText: id }).textContent()).toContain('cancelled')
    expect(await page.getByRole('button', { name: `Cancel ${id}` }).count()).toBe(0)
  })
})

describe('the app page', () => {
  test('env: a key added shows masked, its value revealed on asking, and removed', async () => {
    const app = await imageApp('dash-env')
    const secret = `v-${Math.random().toString(36).slice(2)}`
    const page = await signedIn(`/apps/${app.id}`)
    await page.getByText('No variables.').waitFor()
    await page.getByLabel('Key', { exact: true }).fill('API_SECRET')
    await page.getByLabel('Value', { exact: true }).fill(secret)
    await page.getByRole('button', { name: 'Set variable' }).click()
    const row = page.getByRole('row').filter({ hasText: 'API_SECRET' })
    await poll(() => row.textContent()).toContain('hidden')
    expect(await page.content()).not.toContain(secret)

    await page.getByRole('button', { name: 'Reveal values' }).click()
    await poll(() => row.textContent()).toContain(secret)
    await page.getByRole('button', { name: 'Hide values' }).click()
    await poll(() => row.textContent()).not.toContain(secret)

    await page.getByRole('button', { name: 'Remove API_SECRET' }).click()
    await page.getByText('No variables.').waitFor()
    const env = await host.api.http.get(`/apps/${app.id}/env`, { token: host.admin })
    expect(env.body.env).toEqual([])
  })

  test('a domain with internal HTTPS is added, listed with its certificate status, and removed', async () => {
    const app = await imageApp('dash-domain')
    const hostname = `${app.name}.dashboard.test`
    const page = await signedIn(`/apps/${app.id}`)
    await page.getByLabel('Hostname').fill(hostname)
    await page.getByLabel('HTTPS').selectOption('internal')
    await page.getByRole('button', { name: 'Add domain' }).click()
    const row = page.getByRole('row').filter({ hasText: hostname })
    await poll(() => row.textContent()).toMatch(/internal(pending|active)/)
    const listed = await host.api.http.get(`/apps/${app.id}/domains`, { token: host.admin })
    const domain = listed.body.domains.find((d: any) => d.hostname === hostname)
    expect(domain).toMatchObject({ https: 'internal', certificate: { status: expect.any(String) } })
    expect(await row.textContent()).toContain(domain.certificate.status)

    await page.getByRole('button', { name: `Remove ${hostname}` }).click()
    await poll(() => row.count()).toBe(0)
    const after = await host.api.http.get(`/apps/${app.id}/domains`, { token: host.admin })
    expect(after.body.domains.map((d: any) => d.hostname)).not.toContain(hostname)
  })

  test('a webhook shows its URL and secret once, with copy buttons, and the secret signs deliveries', async () => {
    const app = await imageApp('dash-hook')
    const page = await signedIn(`/apps/${app.id}`)
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'])
    await page.getByRole('button', { name: 'Create webhook' }).click()
    const url = await page.getByRole('textbox', { name: 'Webhook URL' }).inputValue()
    const secret = await page.getByRole('textbox', { name: 'Webhook secret' }).inputValue()
    expect(url).toBe(`${host.api.url}/api/v1/webhooks/github/${app.id}`)
    await page.getByRole('button', { name: 'Copy webhook secret' }).click()
    await poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(secret)
    await page.getByRole('button', { name: 'Copy webhook URL' }).click()
    await poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(url)

    // A push signed with the secret shown is taken (and skipped: an image app builds nothing).
    const push = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) })
    const taken = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': `dash-${app.id}`,
        'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(push).digest('hex')}`,
      },
      body: push,
    })
    expect(taken.status, await taken.text()).toBeLessThan(300)
    await page.getByRole('button', { name: /^Deliveries/ }).click()
    await poll(() => page.getByRole('row').filter({ hasText: 'push' }).textContent()).toContain('skipped')

    // Gone once the page is left, and never kept in the URL or local storage.
    await page.getByRole('link', { name: 'Apps', exact: true }).first().click()
    await page.getByRole('link', { name: app.name }).click()
    await page.getByRole('button', { name: 'Create webhook' }).waitFor()
    expect(await page.content()).not.toContain(secret)
    expect(page.url()).not.toContain(secret)
    expect(await page.evaluate(() => localStorage.length)).toBe(0)
  })

  test('at 360 px in dark mode, with its deploy key, health and stats, has no serious violation', async () => {
    const { app } = await host.deployedApp({ name: 'dash-narrow' })
    const page = await signedIn(`/apps/${app.id}`, { width: 360, dark: true })
    await waitRunning(page)
    await page.getByRole('button', { name: 'Make a key' }).click()
    const key = page.locator('section[aria-labelledby="deploy-key"] pre')
    await poll(() => key.textContent()).toMatch(/^ssh-ed25519 /)
    await page.getByRole('heading', { name: 'Health' }).waitFor()
    await page.getByRole('heading', { name: 'Stats' }).waitFor()
    expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(true)
    // Nothing wider than the screen: the page scrolls down, never across.
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter(
          (el) => el.getBoundingClientRect().right > 361 && !el.parentElement?.closest('.table-wrap, .log'),
        )
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    )
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth),
      wide.join(', '),
    ).toBeLessThanOrEqual(360)
    expect(await seriousViolations(page)).toEqual([])
  })
})
