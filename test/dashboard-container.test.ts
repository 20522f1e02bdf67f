import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { seriousViolations } from './support/axe.ts'
import { type Dashboard, launchDashboard, signInInBrowser } from './support/browser.ts'
import { TEST_IMAGE } from './support/docker.ts'
import { ADMIN, type ContainerHost, createUser, startContainerHost } from './support/flows.ts'
import { waitFor } from './support/process.ts'

// A container's page in Chromium, against a real agent and a container that keeps printing lines
// on stdout and stderr: its log, stats, environment, terminal and actions, as a person sees them.

const NAME = `dash-ctr-${Math.random().toString(36).slice(2, 8)}`
// Stops at once on SIGTERM (sh as pid 1 would otherwise wait for the kill).
const LOOP =
  'trap "exit 0" TERM; i=0; while true; do echo "out line $i"; echo "err line $i" >&2; i=$((i+1)); usleep 200000; done'

let host: ContainerHost
let dashboard: Dashboard
let viewer: { email: string; password: string }

beforeAll(async () => {
  host = await startContainerHost(
    'dash-ctr',
    ['--name', NAME, '-e', 'API_TOKEN=s3cret-value', '-e', 'MODE=prod', TEST_IMAGE, 'sh', '-c', LOOP],
    { env: { BERTH_STATS_INTERVAL_MS: '500' } },
  )
  viewer = await createUser(host.api.http, host.admin, 'viewer')
  dashboard = await launchDashboard(host.api.url)
}, 120_000)

afterAll(async () => {
  await dashboard?.close()
  await host?.stop()
})

let previous: Page | undefined

/** The container's page, signed in as `who`; the last test's page is closed (its follows end with it). */
async function containerPage(
  who: { email: string; password: string } = ADMIN,
  options: { width?: number; height?: number; dark?: boolean } = {},
): Promise<Page> {
  await previous?.context().close()
  const page = await dashboard.open('/servers', options)
  previous = page
  await signInInBrowser(page, who.email, who.password)
  await page.goto(`/servers/${host.serverId}/containers/${host.containerId}`)
  await page.getByRole('heading', { name: NAME, level: 1 }).waitFor()
  return page
}

const logOf = (page: Page) => page.getByRole('region', { name: 'Log lines' })

/** The highest `out line N` in sight in the log, -1 for none. */
async function lastOutLine(log: Locator): Promise<number> {
  const numbers = (await log.locator('.log-line').allTextContents()).map((t) =>
    Number(/out line (\d+)/.exec(t)?.[1] ?? -1),
  )
  return Math.max(-1, ...numbers)
}

/** The number of the container's latest stdout line, as the API reads it now. */
async function latestOutLine(): Promise<number> {
  const res = await host.api.http.get(
    `/servers/${host.serverId}/containers/${host.containerId}/logs?tail=4`,
    { token: host.admin },
  )
  const lines = (res.body.logs as { line: string }[]).map((l) =>
    Number(/out line (\d+)/.exec(l.line)?.[1] ?? -1),
  )
  return Math.max(-1, ...lines)
}

describe('logs', () => {
  test('the recent lines show, then new ones follow, stderr styled apart from stdout', async () => {
    const page = await containerPage()
    const log = logOf(page)
    await log
      .getByText(/out line \d+/)
      .first()
      .waitFor()
    const first = await lastOutLine(log)
    await expect.poll(() => lastOutLine(log), { timeout: 15_000 }).toBeGreaterThan(first + 2)
    const colour = (line: Locator) => line.evaluate((el) => getComputedStyle(el).color)
    const out = log.locator('.log-line', { hasText: 'out line' }).last()
    const err = log.locator('.log-line', { hasText: 'err line' }).last()
    expect(await err.getAttribute('class')).toContain('stderr')
    expect(await colour(err)).not.toBe(await colour(out))
  })

  test('search keeps only the lines that match and marks the match', async () => {
    const page = await containerPage()
    const log = logOf(page)
    await log
      .getByText(/err line \d+/)
      .first()
      .waitFor()
    await page.getByLabel('Search the log').fill('ERR LINE')
    await expect
      .poll(async () => {
        const lines = await log.locator('.log-line').allTextContents()
        return lines.length > 0 && lines.every((l) => l.includes('err line'))
      })
      .toBe(true)
    expect(await log.locator('mark').first().textContent()).toBe('err line')
    await page.getByText(/lines received, \d+ matching/).waitFor()
  })

  test('pause holds the view while the container goes on; resume brings the new lines', async () => {
    const page = await containerPage()
    const log = logOf(page)
    await log
      .getByText(/out line \d+/)
      .first()
      .waitFor()
    await page.getByRole('button', { name: 'Pause' }).click()
    await page.getByText(/· paused/).waitFor()
    const held = await lastOutLine(log)
    await expect.poll(latestOutLine, { timeout: 15_000 }).toBeGreaterThan(held + 3)
    expect(await lastOutLine(log)).toBe(held)
    await page.getByRole('button', { name: 'Resume' }).click()
    await expect.poll(() => lastOutLine(log)).toBeGreaterThan(held + 3)
  })
})

describe('stats', () => {
  test('the charts draw the samples and say them in words', async () => {
    const page = await containerPage()
    const cpu = page.locator('figure', { hasText: 'CPU' })
    await expect
      .poll(async () => Number(/over (\d+) samples/.exec((await cpu.textContent()) ?? '')?.[1] ?? 0), {
        timeout: 20_000,
      })
      .toBeGreaterThan(2)
    const points = await cpu.locator('polyline').getAttribute('points')
    expect(points?.split(' ').length).toBeGreaterThan(2)
    await expect
      .poll(async () => (await page.locator('figure', { hasText: 'Memory' }).textContent()) ?? '')
      .toMatch(/used \d+(\.\d)? (B|KiB|MiB) now/)
    expect(await page.locator('figure', { hasText: 'Network' }).textContent()).toMatch(/received .* sent /)
  })
})

describe('environment', () => {
  test('values of secret keys are masked until the admin reveals them', async () => {
    const page = await containerPage()
    const row = (key: string) => page.getByRole('row', { name: new RegExp(`^${key}\\b`) })
    await expect.poll(() => row('API_TOKEN').textContent()).toContain('********')
    expect(await row('MODE').textContent()).toContain('prod')
    expect(await page.content()).not.toContain('s3cret-value')
    await page.getByRole('button', { name: 'Reveal values' }).click()
    await expect.poll(() => row('API_TOKEN').textContent()).toContain('s3cret-value')
    expect(page.url()).not.toContain('reveal')
    await page.getByRole('button', { name: 'Hide values' }).click()
    await expect.poll(() => row('API_TOKEN').textContent()).toContain('********')
  })

  test('a viewer who asks to reveal is shown the API message and request id, and no actions', async () => {
    const page = await containerPage(viewer)
    await page.getByRole('button', { name: 'Reveal values' }).click()
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'reveal_forbidden' }).textContent())
      .toMatch(/needs write access \(reveal_forbidden, request req_\w+\)/)
    expect(await page.content()).not.toContain('s3cret-value')
    expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0)
    await page.getByText('A terminal needs member or admin access.').waitFor()
  })
})

/** The rows of the terminal's screen as text. */
const screen = (page: Page) => page.locator('.xterm-rows > div').allTextContents()

/** Types `stty size` (marked, to find its answer) and reads the last answer on screen. */
async function sttySize(page: Page): Promise<string | undefined> {
  await page.keyboard.type('echo "size=$(stty size)"\n')
  // The screen's rows hold no-break spaces where the terminal shows blanks.
  const rows = (await screen(page)).map((row) => row.replace(/\u00a0/g, ' '))
  const answers = rows.flatMap((row) => /^size=(\d+ \d+)/.exec(row)?.[1] ?? [])
  return answers.at(-1)
}

/** Opens the terminal; a person presses again when the agent's link dropped for a moment (a loaded host). */
async function openTheTerminal(page: Page): Promise<void> {
  await waitFor(
    'the terminal to open',
    async () => {
      const close = page.getByRole('button', { name: 'Close terminal' })
      if (await close.isVisible()) return true
      const open = page.getByRole('button', { name: /^Open (a new )?terminal$/ })
      await open.click({ timeout: 2_000 }).catch(() => {})
      return false
    },
    30_000,
  )
}

describe('terminal', () => {
  test('runs a command, answers stty size, follows a resize of the window, and shows the exit code', async () => {
    const page = await containerPage(ADMIN, { width: 1200, height: 800 })
    await openTheTerminal(page)
    await page.keyboard.type('echo hello-$((6*7))\n')
    await expect.poll(async () => (await screen(page)).some((row) => row.startsWith('hello-42'))).toBe(true)
    await expect.poll(() => sttySize(page)).toMatch(/^\d+ \d+$/)
    const wide = await sttySize(page)
    await page.setViewportSize({ width: 640, height: 700 })
    await expect.poll(() => sttySize(page)).not.toBe(wide)
    const [rows, cols] = ((await sttySize(page)) ?? '').split(' ').map(Number)
    const [wideRows, wideCols] = (wide ?? '').split(' ').map(Number)
    expect(cols).toBeLessThan(wideCols as number)
    expect(rows).toBeLessThanOrEqual(wideRows as number)
    await page.keyboard.type('exit 3\n')
    await page.getByRole('status').filter({ hasText: 'The process exited with code 3.' }).waitFor()
  })
})

describe('quality', () => {
  test('at 360 px in dark mode the page fits, and axe finds nothing serious with the terminal open', async () => {
    const page = await containerPage(ADMIN, { width: 360, height: 740, dark: true })
    await logOf(page)
      .getByText(/out line \d+/)
      .first()
      .waitFor()
    await openTheTerminal(page)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
    expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(true)
    expect(await seriousViolations(page)).toEqual([])
  })
})

describe('actions', () => {
  test('stop and start change the status shown, and the log follows the started container', async () => {
    const page = await containerPage()
    const status = page.locator('dl.facts .status')
    await page.getByRole('button', { name: 'Stop' }).click()
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('exited')
    await page.getByText('The container stopped; its log ends here.').waitFor()
    await page.getByRole('button', { name: 'Start', exact: true }).click()
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('running')
    await expect.poll(() => page.getByText('The container stopped; its log ends here.').count()).toBe(0)
    const newest = async () => (await logOf(page).locator('.log-line').allTextContents()).at(-1)
    await expect.poll(newest, { timeout: 15_000 }).toMatch(/line \d+/)
    const seen = await newest()
    await expect.poll(newest, { timeout: 15_000 }).not.toBe(seen)
  })

  test('remove asks once more, then removes the container and goes back to its server', async () => {
    const page = await containerPage()
    await page.getByRole('button', { name: 'Remove', exact: true }).click()
    await page.getByRole('button', { name: `Remove ${NAME} for good` }).click()
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/servers/${host.serverId}`)
    const gone = await host.api.http.get(`/servers/${host.serverId}/containers/${NAME}`, {
      token: host.admin,
    })
    expect(gone.status).toBe(404)
  })
})
