/**
 * Headless Chromium for page tests: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download, ever). Every request the page makes is
 * recorded; one that is not for 127.0.0.1 is aborted and fails the test at
 * teardown, so "no external resources" is checked on every page test.
 *
 * One browser per test file, started on the first page and closed when the
 * file's tests are done; every page gets its own context (its own cookies,
 * storage and cache, as a fresh profile would), so pages share nothing but the
 * browser process. Starting Chromium costs about a second of CPU: once per
 * file, not once per page.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import tap from 'tap'

export const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Screenshots of the page go here (git-ignored). */
export const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/page/', import.meta.url))

import type { Teardown } from '../support/teardown.js'
interface Tap extends Teardown {
  fail(message: string): void
}

export interface TestPage {
  page: Page
  context: BrowserContext
  /** Every URL the page requested, in order. */
  requests: string[]
  /** Requests that went (or tried to go) anywhere but 127.0.0.1. */
  outside: string[]
  /** Errors thrown in the page, and console errors. */
  errors: string[]
  screenshot(name: string): Promise<void>
}

function isLoopback (url: string): boolean {
  try {
    const u = new URL(url)
    return u.protocol === 'data:' || u.protocol === 'about:' || u.hostname === '127.0.0.1'
  } catch {
    return false
  }
}

export interface PageOptions {
  viewport?: { width: number, height: number }
  /** Console errors a test causes on purpose (a dropped connection's net::ERR_...). */
  allowConsole?: RegExp
}

let shared: Promise<Browser> | undefined

/** The file's browser: launched on first use, closed by the root test's teardown (after every page's own). */
async function browser (): Promise<Browser> {
  if (shared === undefined) {
    const launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
    shared = launching
    tap.teardown(async () => { await (await launching.catch(() => undefined))?.close() })
  }
  return await shared
}

export async function openPage (t: Tap, url: string, options: PageOptions = {}): Promise<TestPage> {
  const viewport = options.viewport ?? { width: 1280, height: 800 }
  const context = await (await browser()).newContext({
    viewport,
    // Whatever the machine's LANG: numbers and times read the same in every run.
    locale: 'en-US',
    timezoneId: 'UTC'
  })
  const requests: string[] = []
  const outside: string[] = []
  const errors: string[] = []
  await context.route('**/*', async (route) => {
    const target = route.request().url()
    requests.push(target)
    if (isLoopback(target)) return await route.continue()
    outside.push(target)
    await route.abort('blockedbyclient')
  })
  const page = await context.newPage()
  page.on('pageerror', (err) => errors.push(err.message))
  // Console errors too (a Content-Security-Policy violation is one), except the browser's own line for
  // an HTTP error status, which the page handles (401 before the token, 404 for a missing route).
  page.on('console', (msg) => {
    const text = msg.text()
    if (msg.type() !== 'error' || /^Failed to load resource: the server responded with a status of (401|404|409|504)/.test(text)) return
    if (options.allowConsole?.test(text) !== true) errors.push(text)
  })
  t.teardown(async () => {
    await context.close().catch(() => {})
    if (outside.length > 0) t.fail(`requests left 127.0.0.1: ${outside.join(', ')}`)
    if (errors.length > 0) { console.error('errors in the page:', errors); t.fail(`errors in the page: ${errors.join('; ')}`) }
  })
  await page.goto(url)
  return {
    page,
    context,
    requests,
    outside,
    errors,
    async screenshot (name: string) {
      mkdirSync(OUTPUT_DIR, { recursive: true })
      await page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: false })
    }
  }
}

export interface AxeViolation { id: string, impact: string | null, help: string, nodes: Array<{ target: string[] }> }

/**
 * axe-core's WCAG 2 A and AA rules (contrast, names, roles, ARIA) over the page
 * as it is now. Loaded from node_modules through the driver (not a network
 * request, and not blocked by the page's Content-Security-Policy).
 */
export async function axeViolations (page: Page): Promise<AxeViolation[]> {
  const source = readFileSync(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8')
  await page.evaluate(source)
  return await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: unknown): Promise<{ violations: AxeViolation[] }> } }).axe
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }))
  })
}
