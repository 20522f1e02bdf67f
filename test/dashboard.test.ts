import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { seriousViolations } from './support/axe.ts'
import { type Dashboard, launchDashboard, registerInBrowser, signInInBrowser } from './support/browser.ts'
import { ADMIN, login } from './support/flows.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The dashboard served by the API itself, on either runtime, and signing in to it in Chromium.

let api: ApiTarget
let dashboard: Dashboard

beforeAll(async () => {
  api = await startApi()
  dashboard = await launchDashboard(api.url)
})

afterAll(async () => {
  await dashboard?.close()
  await api?.stop()
})

describe('serving', () => {
  test('the page at / and at its own routes, with a policy that allows no inline script', async () => {
    for (const path of ['/', '/servers/some-id']) {
      const res = await fetch(`${api.url}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(await res.text()).toContain('<div id="app">')
    }
  })

  test('hashed assets are cached for good, a missing one is no script, and /api/ stays the API', async () => {
    const html = await (await fetch(api.url)).text()
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1]
    expect(script).toBeDefined()
    const asset = await fetch(`${api.url}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toMatch(/javascript/)
    expect(asset.headers.get('cache-control')).toContain('immutable')
    // As Workers' single-page handling answers it: the page, which nosniff keeps from running as a script.
    const gone = await fetch(`${api.url}/assets/gone-0000.js`)
    expect(gone.headers.get('content-type')).toMatch(/^text\/html/)
    expect(gone.headers.get('x-content-type-options')).toBe('nosniff')
    const missing = await fetch(`${api.url}/api/v1/nothing-here`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ code: 'not_found' })
  })
})

describe('signing in', () => {
  test('the first account is made on the sign-in page and lands on the servers page', async () => {
    const page = await dashboard.open('/')
    await registerInBrowser(page, ADMIN.email, ADMIN.password)
    await expect.poll(() => page.url()).toBe(`${api.url}/servers`)
    await page.getByText(ADMIN.email).waitFor()
    // The session stays in this tab only, and never in a URL or localStorage.
    expect(await page.evaluate(() => localStorage.length)).toBe(0)
    expect(page.url()).not.toMatch(/token/i)
    await page.reload()
    await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor()
    expect(await seriousViolations(page)).toEqual([])
  })

  test('a wrong password shows the API message and its request id; sign out ends the session', async () => {
    const page = await dashboard.open('/servers')
    expect(await seriousViolations(page)).toEqual([])
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    const alert = page.getByRole('alert')
    await expect
      .poll(() => alert.textContent())
      .toMatch(/email or password is wrong \(invalid_credentials, request req_\w+\)/)
    await signInInBrowser(page, ADMIN.email, ADMIN.password)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
  })

  test('a second account is refused with the API message while registration is closed', async () => {
    const page = await dashboard.open('/')
    await page.getByRole('button', { name: 'Create an account' }).click()
    await page.getByLabel('Email').fill('someone@example.com')
    await page.getByLabel('Password').fill('another password')
    await page.getByRole('button', { name: 'Create account' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/registration_closed/)
  })
})

describe('live updates', () => {
  test('a dropped socket is announced, comes back by itself, and its subscriptions with it', async () => {
    const page = await dashboard.open('/audit')
    await signInInBrowser(page, ADMIN.email, ADMIN.password, 'Audit log')
    const created = page
      .getByRole('table', { name: 'Audit log entries' })
      .locator('tbody tr')
      .filter({ hasText: 'POST /api/v1/servers' })
    const token = await login(api.http, ADMIN.email, ADMIN.password)
    await api.http.post('/servers', { token, body: { name: 'live-1' } })
    await expect.poll(() => created.count(), { timeout: 10_000 }).toBe(1)

    await api.halt()
    const banner = page.getByRole('status').filter({ hasText: 'reconnecting' })
    await banner.waitFor()
    await api.restart()
    await banner.waitFor({ state: 'detached', timeout: 30_000 })
    // The renewed subscription delivers what happens after the socket came back.
    await api.http.post('/servers', { token, body: { name: 'live-2' } })
    await expect.poll(() => created.count(), { timeout: 10_000 }).toBe(2)
  })
})

describe('a network that changes under the page', () => {
  test('a read the browser cut off is asked again; a write is not', async () => {
    const page = await dashboard.open('/servers')
    await signInInBrowser(page, ADMIN.email, ADMIN.password)
    // Cut off as Chromium does when an interface changes (ERR_NETWORK_CHANGED): no answer at all.
    let cut = 0
    await page.route('**/api/v1/tokens*', async (route) => {
      if (route.request().method() === 'GET' && cut++ === 0) return route.abort('failed')
      await route.continue()
    })
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click()
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor()
    // Asked again after the cut: the list comes, and no error is shown.
    await expect.poll(() => cut).toBe(2)
    await page.getByText('No tokens yet.').waitFor()
    expect(await page.getByText('could not be reached').count()).toBe(0)

    await page.route('**/api/v1/tokens', (route) =>
      route.request().method() === 'POST' ? route.abort('failed') : route.continue(),
    )
    await page.getByLabel('Name').fill('never made')
    await page.getByRole('button', { name: 'Create token' }).click()
    await page.getByText('could not be reached').waitFor()
    const token = await login(api.http, ADMIN.email, ADMIN.password)
    const tokens = await api.http.get('/tokens', { token })
    expect(tokens.body.tokens.map((t: { name: string }) => t.name)).not.toContain('never made')
  })
})
