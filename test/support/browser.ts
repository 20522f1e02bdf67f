import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterEach, onTestFinished } from 'vitest'
import { ROOT } from './process.ts'

// The dashboard as a person sees it: Debian's Chromium driven by playwright-core, a fresh profile
// for each browser (playwright makes it). A failing test leaves the page's screenshot and console in test/.artifacts.

export const ARTIFACTS = join(ROOT, 'test/.artifacts')

export interface Dashboard {
  browser: Browser
  close(): Promise<void>
  /** A new tab (its own sessionStorage) at `path` of the API, as a person with no session. */
  open(path?: string, options?: { width?: number; height?: number; dark?: boolean }): Promise<Page>
}

/** Debian's Chromium, headless; as root there is no sandbox, and nothing calls out of this machine. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

export async function launchDashboard(baseUrl: string): Promise<Dashboard> {
  const browser = await launchChromium()
  const contexts: BrowserContext[] = []
  return {
    browser,
    async open(path = '/', options = {}) {
      const context = await browser.newContext({
        baseURL: baseUrl,
        viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
        colorScheme: options.dark ? 'dark' : 'light',
      })
      contexts.push(context)
      // A tab a test opened closes when that test ends (after its evidence is kept), so its live
      // socket stops reading the API for the tests after it; one opened for a whole file stays.
      if (process.env.VITEST) {
        try {
          onTestFinished(() => context.close().catch(() => {}))
        } catch {
          // opened outside a test (a file's beforeAll)
        }
      }
      const page = await context.newPage()
      keepEvidence(page)
      await page.goto(path)
      return page
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {})
      await browser.close()
    },
  }
}

/** The console lines of each open page, kept for the evidence of a failing test. */
const consoles = new Map<Page, string[]>()

function keepEvidence(page: Page): void {
  const lines: string[] = []
  consoles.set(page, lines)
  page.on('console', (message) => lines.push(`${message.type()}: ${message.text()}`))
  page.on('pageerror', (error) => lines.push(`pageerror: ${error.message}`))
  page.on('close', () => consoles.delete(page))
}

// Registered when a test file imports this module (a benchmark imports it outside Vitest): after
// a failed test, every page still open leaves a screenshot and what it said on its console.
if (process.env.VITEST)
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return
    mkdirSync(ARTIFACTS, { recursive: true })
    let n = 0
    for (const [page, lines] of consoles) {
      const name = `${task.file?.name.replace(/\W+/g, '_')}-${task.name.replace(/\W+/g, '_')}`.slice(0, 140)
      const file = join(ARTIFACTS, `${name}-${n++}`)
      await page.screenshot({ path: `${file}.png`, fullPage: true }).catch(() => {})
      writeFileSync(`${file}.console.txt`, `${page.url()}\n${lines.join('\n')}\n`)
    }
  })

/** Registers the first user through the sign-in page; resolves on the page the dashboard opens with. */
export async function registerInBrowser(page: Page, email: string, password: string): Promise<void> {
  await page.getByRole('button', { name: 'Create an account' }).click()
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor()
}

/** Signs in on the sign-in page; resolves once the page asked for (headed `landing`) shows. */
export async function signInInBrowser(page: Page, email: string, password: string, landing = 'Servers') {
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: landing, level: 1 }).waitFor()
}
