import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { seriousViolations } from './support/axe.ts'
import { type Dashboard, launchDashboard, signInInBrowser } from './support/browser.ts'
import { ADMIN, registerAdmin } from './support/flows.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Tokens, users and the audit log in the dashboard, against the API that holds them.

let api: ApiTarget
let dashboard: Dashboard
let admin: string
let page: Page

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  dashboard = await launchDashboard(api.url)
  page = await dashboard.open('/')
  await signInInBrowser(page, ADMIN.email, ADMIN.password)
})

afterAll(async () => {
  await dashboard?.close()
  await api?.stop()
})

const visit = async (path: string, heading: string) => {
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: path.slice(1), exact: false })
    .click()
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
}

describe('tokens', () => {
  test('a new token is shown once, works against the API, and stops working when revoked', async () => {
    await visit('/tokens', 'API tokens')
    await page.getByLabel('Name').fill('ci deploys')
    await page.getByLabel('write').check()
    await page.getByRole('button', { name: 'Create token' }).click()
    const value = await page.getByLabel('Token value', { exact: true }).inputValue()
    expect(value).toMatch(/^berth_pat_/)
    const me = await api.http.get('/auth/me', { token: value })
    expect(me.body.auth).toMatchObject({ type: 'token', scopes: ['read', 'write'] })
    const row = page.getByRole('row', { name: /ci deploys/ })
    await expect.poll(() => row.textContent()).toContain('read, write')
    expect(await seriousViolations(page)).toEqual([])

    // Leaving the page forgets the value; the list never has it.
    await visit('/servers', 'Servers')
    await visit('/tokens', 'API tokens')
    expect(await page.getByLabel('Token value', { exact: true }).count()).toBe(0)
    expect(await page.content()).not.toContain(value)

    await page.getByRole('button', { name: 'Revoke ci deploys' }).click()
    await expect.poll(() => page.getByRole('row', { name: /ci deploys/ }).count()).toBe(0)
    expect((await api.http.get('/auth/me', { token: value })).status).toBe(401)
  })
})

describe('users', () => {
  test('an admin creates a member, makes them a viewer and disables them; the API agrees', async () => {
    await visit('/users', 'Users')
    const form = page.getByRole('form', { name: 'New user' })
    await form.getByLabel('Email').fill('ops@example.com')
    await form.getByLabel('Password').fill('ops password 1')
    await form.getByRole('combobox').selectOption('member')
    await form.getByRole('button', { name: 'Create user' }).click()
    const row = page.getByRole('row', { name: /ops@example\.com/ })
    await row.waitFor()
    await page.getByLabel('Role of ops@example.com').selectOption('viewer')
    await page.getByRole('button', { name: 'Disable ops@example.com' }).click()
    await expect.poll(() => row.textContent()).toContain('disabled')
    const users = (await api.http.get('/users', { token: admin })).body.users
    expect(users.find((u: any) => u.email === 'ops@example.com')).toMatchObject({
      role: 'viewer',
      disabled: true,
    })
    expect(await seriousViolations(page)).toEqual([])
  })

  test('demoting the last admin is refused with the message of the API', async () => {
    await page.getByLabel(`Role of ${ADMIN.email}`).selectOption('member')
    const alert = page.getByRole('row', { name: new RegExp(ADMIN.email) }).getByRole('alert')
    await expect.poll(() => alert.textContent()).toMatch(/admin.*request req_\w+/)
    const me = (await api.http.get('/auth/me', { token: admin })).body.user
    expect(me.role).toBe('admin')
  })
})

describe('audit log', () => {
  test('filters by action and outcome, pages back, and shows new entries as they happen', async () => {
    for (let i = 0; i < 3; i++)
      await api.http.post('/servers', { token: admin, body: { name: `audited-${i}` } })
    await api.http.post('/servers', { token: admin, body: { name: 'audited-0' } }) // a 409
    await visit('/audit', 'Audit log')
    await page.getByLabel('Action contains').fill('/servers')
    await page.getByLabel('Outcome').selectOption('true')
    await page.getByRole('button', { name: 'Filter' }).click()
    await expect.poll(() => page.url()).toContain('failed=true')
    const rows = page.getByRole('table', { name: 'Audit log entries' }).locator('tbody tr')
    await expect.poll(() => rows.count()).toBe(1)
    expect(await rows.first().textContent()).toContain('409')

    await page.getByLabel('Outcome').selectOption('')
    await page.getByRole('button', { name: 'Filter' }).click()
    await expect.poll(() => rows.count()).toBe(4)
    // A new entry arrives over the live socket, newest first.
    await api.http.post('/servers', { token: admin, body: { name: 'audited-live' } })
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(5)
    expect(await seriousViolations(page)).toEqual([])
  })

  test('pages back with Older entries', async () => {
    for (let i = 0; i < 55; i++)
      await api.http.post('/servers', { token: admin, body: { name: 'audited-0' } })
    const narrow = await dashboard.open('/audit?failed=true', { width: 360, dark: true })
    await signInInBrowser(narrow, ADMIN.email, ADMIN.password, 'Audit log')
    const rows = narrow.getByRole('table', { name: 'Audit log entries' }).locator('tbody tr')
    await expect.poll(() => rows.count()).toBe(50)
    await narrow.getByRole('button', { name: 'Older entries' }).click()
    const [failed] = await api.sql<{ n: number }>('select count(*) as n from audit_log where status >= 400')
    expect(failed!.n).toBeGreaterThan(55)
    await expect.poll(() => rows.count()).toBe(Number(failed!.n))
    expect(await narrow.getByRole('button', { name: 'Older entries' }).count()).toBe(0)
    expect(await seriousViolations(narrow)).toEqual([])
  })
})

// Last: the server it makes would be one more entry in the audit log's counts above.
describe('docker tokens', () => {
  test("an admin's docker token opens Docker on the servers ticked, shown by name", async () => {
    const server = await api.http.post('/servers', { token: admin, body: { name: 'dash-docker' } })
    expect(server.status, server.text).toBe(201)
    // The form lists the servers there were when the page opened.
    await visit('/servers', 'Servers')
    await visit('/tokens', 'API tokens')
    await page.getByLabel('Name').fill('compose')
    await page.getByLabel('docker', { exact: true }).check()
    await page.getByRole('group', { name: 'Servers it opens Docker on' }).getByLabel('dash-docker').check()
    await page.getByRole('button', { name: 'Create token' }).click()
    const value = await page.getByLabel('Token value', { exact: true }).inputValue()
    const me = await api.http.get('/auth/me', { token: value })
    expect(me.body.auth).toMatchObject({
      scopes: ['read', 'docker'],
      docker_servers: [server.body.server.id],
    })
    const row = page.getByRole('row', { name: /compose/ })
    await expect.poll(() => row.textContent()).toContain('dash-docker')
    expect(await seriousViolations(page)).toEqual([])
  })
})
