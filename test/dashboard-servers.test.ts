import { mkdirSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { seriousViolations } from './support/axe.ts'
import { ARTIFACTS, type Dashboard, launchDashboard, signInInBrowser } from './support/browser.ts'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { ADMIN, registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The servers and containers pages in Chromium, with real agents and the host's Docker Engine.

let api: ApiTarget
let dashboard: Dashboard
let admin: string
let serverId: string
const agents: Child[] = []
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`
const loop = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done']

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  const host = await startServerWithAgent(api, admin, 'dash-host')
  serverId = host.serverId
  agents.push(host.agent)
  dashboard = await launchDashboard(api.url)
})

afterAll(async () => {
  await dashboard?.close()
  for (const agent of agents) await agent.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  try {
    docker('volume', 'rm', '-f', name('data'))
  } catch {
    // not made, or removed by the test
  }
  await api?.stop()
})

async function signedIn(path: string, options?: { width?: number; dark?: boolean }): Promise<Page> {
  const page = await dashboard.open('/servers', options)
  await signInInBrowser(page, ADMIN.email, ADMIN.password)
  if (path !== '/servers') {
    await page.goto(path)
    await page.locator('main h1').waitFor()
  }
  return page
}

async function createContainer(what: string, tags: string[] = []) {
  const res = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: { image: TEST_IMAGE, name: name(what), cmd: loop, tags },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.container
}

/** The containers table's row of a container of dash-host (another agent on this host reports it too). */
const rowOf = (page: Page, what: string) =>
  page
    .getByRole('row')
    .filter({ hasText: name(what) })
    .filter({ hasText: 'dash-host' })

/** The table's rows (name cells first), as a person reads them top to bottom. */
const rowNames = (page: Page) => page.locator('tbody tr td:first-child a').allTextContents()

describe('servers', () => {
  test('a server added in the page comes online without a reload when its agent starts', async () => {
    const page = await signedIn('/servers')
    await page.getByRole('button', { name: 'Add a server' }).click()
    await page.getByLabel('Name').fill(name('web'))
    await page.getByRole('button', { name: 'Add server' }).click()
    await page.getByRole('heading', { name: `Start the agent of ${name('web')}` }).waitFor()
    await page.getByRole('button', { name: 'Copy the command: With Node.js' }).waitFor()
    const command = await page.locator('.command pre').first().textContent()
    expect(command).toContain(`--api ${api.url}`)
    const token = command?.match(/--token (\S+)/)?.[1]
    expect(token).toMatch(/^berth_enr_/)
    const row = page.getByRole('row').filter({ hasText: name('web') })
    await expect.poll(() => row.textContent()).toContain('pending')
    expect(await seriousViolations(page)).toEqual([])

    const stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-'))
    const agent = startAgentProcess({ api: api.url, token, stateDir })
    agents.push(agent)
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('online')
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Status:' }).textContent())
      .toContain('online')
    // The agent's versions and arch, and the host's figures from its channel once its row shows.
    await row.scrollIntoViewIfNeeded()
    await expect
      .poll(() => row.textContent(), { timeout: 15_000 })
      .toMatch(/\d+\.\d\d on \d+ cores.*GiB of.*(x64|arm64)/)
    expect(await row.textContent()).toContain(docker('version', '--format', '{{.Server.Version}}'))
    await page.getByRole('button', { name: 'Done' }).click()
    expect(await page.locator('.command').count()).toBe(0)
    await page.getByRole('button', { name: 'Add a server' }).waitFor()
    mkdirSync(join(ARTIFACTS, 'screenshots'), { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'screenshots', 'servers.png'), fullPage: true })
    // Its agent reports this host's containers too: it goes, so later tests see each container once.
    await agent.stop()
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('offline')
  })

  test('seventy servers stay live on one channel: an agent connecting, a server added elsewhere', async () => {
    const many = (i: number) => name(`many-${String(i).padStart(2, '0')}`)
    const created: { id: string; token: string }[] = []
    for (let i = 1; i <= 70; i++) {
      const res = await api.http.post('/servers', { token: admin, body: { name: many(i) } })
      expect(res.status, res.text).toBe(201)
      created.push({ id: res.body.server.id, token: res.body.enrollment.token })
    }
    const page = await signedIn('/servers')
    const rows = page.getByRole('row').filter({ hasText: name('many-') })
    await expect.poll(() => rows.count()).toBe(70)
    const last = page.getByRole('row').filter({ hasText: many(70) })
    expect(await last.textContent()).toContain('pending')

    const stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-'))
    const agent = startAgentProcess({ api: api.url, token: created[69]!.token, stateDir })
    agents.push(agent)
    await expect.poll(() => last.textContent(), { timeout: 20_000 }).toContain('online')
    // Its row on screen, the host's figures come from its own channel.
    await last.scrollIntoViewIfNeeded()
    await expect.poll(() => last.textContent(), { timeout: 15_000 }).toMatch(/\d+\.\d\d on \d+ cores/)
    const added = await api.http.post('/servers', { token: admin, body: { name: many(71) } })
    expect(added.status, added.text).toBe(201)
    await page
      .getByRole('row')
      .filter({ hasText: many(71) })
      .waitFor()
    // No channel refused: past 64 servers, nothing on the page went stale.
    expect(await page.getByRole('alert').count()).toBe(0)

    await agent.stop()
    await expect.poll(() => last.textContent(), { timeout: 20_000 }).toContain('offline')
    for (const { id } of [...created, added.body.server]) {
      expect((await api.http.delete(`/servers/${id}`, { token: admin })).status).toBe(204)
    }
    await expect.poll(() => rows.count()).toBe(0)
  })

  test('an admin removes a server after confirming', async () => {
    const created = await api.http.post('/servers', { token: admin, body: { name: name('gone') } })
    expect(created.status, created.text).toBe(201)
    const page = await signedIn('/servers')
    const row = page.getByRole('row').filter({ hasText: name('gone') })
    await row.getByRole('button', { name: `Remove ${name('gone')}` }).click()
    await row.getByRole('button', { name: `Remove ${name('gone')} for good` }).click()
    await row.waitFor({ state: 'detached' })
    const gone = await api.http.get(`/servers/${created.body.server.id}`, { token: admin })
    expect(gone.status).toBe(404)
  })

  test('the server page shows its facts, resources, containers, images, volumes and networks', async () => {
    await createContainer('page-ctr')
    const volume = await api.http.post(`/servers/${serverId}/volumes`, {
      token: admin,
      body: { name: name('data') },
    })
    expect(volume.status, volume.text).toBe(201)
    const page = await signedIn(`/servers/${serverId}`)
    await page.getByRole('heading', { name: 'dash-host', level: 1 }).waitFor()
    await expect.poll(() => page.locator('main').textContent(), { timeout: 15_000 }).toMatch(/running of \d+/)
    await page.getByRole('link', { name: name('page-ctr') }).waitFor()
    const images = page.getByRole('region', { name: 'Images' })
    await images.getByRole('cell', { name: TEST_IMAGE }).first().waitFor()
    await page
      .getByRole('region', { name: 'Networks' })
      .getByRole('cell', { name: 'bridge' })
      .first()
      .waitFor()
    const volumes = page.getByRole('region', { name: 'Volumes' })
    const row = volumes.getByRole('row').filter({ hasText: name('data') })
    await row.waitFor()
    expect(await seriousViolations(page)).toEqual([])
    await row.getByRole('button', { name: `Remove ${name('data')}` }).click()
    await row.getByRole('button', { name: `Remove ${name('data')} for good` }).click()
    await row.waitFor({ state: 'detached' })
    expect(docker('volume', 'ls', '-q', '--filter', `name=${name('data')}`)).toBe('')
  })
})

describe('containers', () => {
  test('a container run through the API is in the table, filtered and sorted, and stops from the page', async () => {
    await createContainer('alpha', ['web'])
    await createContainer('beta')
    const page = await signedIn('/containers')
    await page.getByLabel('Name').fill(`t${run}-`)
    await expect.poll(() => rowNames(page)).toEqual(expect.arrayContaining([name('alpha'), name('beta')]))
    const row = rowOf(page, 'alpha')
    expect(await row.textContent()).toContain('dash-host')
    expect(await row.getByRole('link', { name: name('alpha') }).getAttribute('href')).toMatch(
      new RegExp(`^/servers/${serverId}/containers/ctr_`),
    )
    await page.getByLabel('Tag or label').fill('web')
    await expect.poll(() => rowNames(page)).toEqual([name('alpha')])
    await page.getByLabel('Tag or label').fill('')
    const ascending = (await rowNames(page)).filter((n) => n.startsWith(`t${run}-`))
    await page.getByRole('button', { name: 'Name ▲' }).click()
    await expect
      .poll(async () => (await rowNames(page)).filter((n) => n.startsWith(`t${run}-`)))
      .toEqual([...ascending].reverse())
    expect(await seriousViolations(page)).toEqual([])

    await row.getByRole('button', { name: `Stop ${name('alpha')}` }).click()
    await expect.poll(() => row.getByText('exited').count(), { timeout: 20_000 }).toBe(1)
    await page.getByLabel('Status').selectOption('exited')
    await expect.poll(() => rowNames(page)).toEqual([name('alpha')])
  })

  test('a change made elsewhere shows live, and a removal asks first', async () => {
    const c = await createContainer('gamma')
    const page = await signedIn('/containers')
    await page.getByLabel('Name').fill(name('gamma'))
    const row = rowOf(page, 'gamma')
    await expect.poll(() => row.textContent()).toContain('running')
    const stop = await api.http.post(`/servers/${serverId}/containers/${c.id}/stop`, {
      token: admin,
      body: { timeout: 0 },
    })
    expect(stop.status, stop.text).toBe(200)
    await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain('exited')
    await row.getByRole('button', { name: `Remove ${name('gamma')}` }).click()
    await row.getByRole('button', { name: `Remove ${name('gamma')} for good` }).click()
    await row.waitFor({ state: 'detached' })
    expect(docker('ps', '-aq', '--filter', `name=${name('gamma')}`)).toBe('')
  })

  test('the table at 360 px in dark mode passes the accessibility check', async () => {
    await createContainer('narrow')
    const page = await signedIn('/containers', { width: 360, dark: true })
    await page.getByLabel('Name').fill(name('narrow'))
    await rowOf(page, 'narrow').waitFor()
    expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(true)
    // Nothing wider than the screen but the table, which scrolls in its own box.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
    expect(await seriousViolations(page)).toEqual([])
  })
})
