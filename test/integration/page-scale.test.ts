/**
 * The fleet page with 20,000 devices: the table keeps only the rows in view in
 * the DOM, and live updates are applied once per animation frame. The times are
 * measured and printed (first rows on screen, per-frame update cost), never
 * asserted tightly: this machine is shared and timing asserts would be flaky.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { openPage } from '../helpers/browser.js'
import { publishPeerStatus, type PeerStatus } from '../support/peer-status.js'

const DEVICES = 20_000
const STATES = ['online', 'silent', 'offline'] as const

const id = (i: number): string => `sim-${String(i).padStart(5, '0')}`

interface Perf { listLoadedMs: number, firstRowsMs: number, devices: number, frames: Array<{ statuses: number, ms: number }> }

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN

t.test(`20,000 devices: first rows and live updates measured, only visible rows drawn`, async (t) => {
  const broker = await startBroker(t)
  const start = Date.now() - 600_000
  const epochs = new Array<number>(DEVICES).fill(1)
  for (let i = 0; i < DEVICES; i++) {
    const state = STATES[i % 3]!
    const s: PeerStatus = { clientId: id(i), state, since: start + i, lastHeartbeat: start + i, reason: state === 'offline' ? 'connection_lost' : null }
    await publishPeerStatus(broker.broker, s)
  }
  t.equal(broker.services.need('liveness').list().length, DEVICES, 'the broker knows 20,000 devices')

  const { page, screenshot } = await openPage(t, `${broker.httpUrl}/`)
  await page.waitForFunction((n) => (window as unknown as { vigilPerf: Perf }).vigilPerf.devices === n, DEVICES, { timeout: 60_000 })
  const first = await page.evaluate(() => {
    const perf = (window as unknown as { vigilPerf: Perf }).vigilPerf
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null
    return { listLoadedMs: perf.listLoadedMs, firstRowsMs: perf.firstRowsMs, fcp }
  })
  t.comment(`first contentful paint ${first.fcp?.toFixed(0)} ms; list of ${DEVICES} fetched+parsed in ${first.listLoadedMs.toFixed(0)} ms; rows on screen at ${first.firstRowsMs.toFixed(0)} ms after navigation`)
  t.equal(await page.textContent('#count-all'), DEVICES.toLocaleString('en-US'), 'counts read with thousands separators')
  t.equal(await page.textContent('#count-silent'), Array.from({ length: DEVICES }, (_, i) => i % 3).filter((k) => k === 1).length.toLocaleString('en-US'))
  const domRows = await page.$$eval('#devices tbody tr[data-id]', (rows) => rows.length)
  t.ok(domRows > 10 && domRows < 120, `only the rows in view are in the DOM (${domRows} of ${DEVICES})`)
  t.equal(await page.getAttribute('#devices', 'aria-rowcount'), String(DEVICES + 1), 'screen readers are told the full count')

  await page.evaluate(() => { const s = document.querySelector('#scroller')!; s.scrollTop = s.scrollHeight })
  await page.waitForSelector(`#devices tr[data-id="${id(DEVICES - 1)}"]`)
  t.pass('scrolled to the end, the last device is drawn')
  await page.evaluate(() => { document.querySelector('#scroller')!.scrollTop = 0 })
  await page.waitForSelector(`#devices tr[data-id="${id(0)}"]`)

  // The keyboard walks the whole fleet: Tab from link to link scrolls the window, focus stays on the right device.
  await page.focus(`#devices tr[data-id="${id(0)}"] a`)
  for (let k = 0; k < 60; k++) {
    await page.keyboard.press('Tab')
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))))
  }
  t.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-id')), id(60), 'after 60 Tabs the focus is on the 61st device')
  await page.keyboard.press('Enter')
  await page.waitForSelector('#device[open]')
  t.equal(await page.textContent('#device h2 .id'), id(60), 'Enter opens its device view')
  await page.keyboard.press('Escape')
  await page.evaluate(() => { document.querySelector('#scroller')!.scrollTop = 0 })
  await page.evaluate(() => { (window as unknown as { vigilPerf: Perf }).vigilPerf.frames.length = 0 })

  // Live churn: 20 bursts of 250 transitions, each to a new epoch (a reconnect storm's shape).
  let sent = 0
  for (let burst = 0; burst < 20; burst++) {
    const batch: Array<Promise<void>> = []
    for (let k = 0; k < 250; k++) {
      const i = (burst * 997 + k * 79) % DEVICES
      epochs[i]!++
      batch.push(publishPeerStatus(broker.broker, { clientId: id(i), state: STATES[(i + burst) % 3]!, since: Date.now(), epoch: epochs[i], reason: null }))
    }
    await Promise.all(batch)
    sent += batch.length
    await new Promise((resolve) => setTimeout(resolve, 50)) // pacing: bursts 50 ms apart, a storm's shape
  }
  // A barrier through the same path: a device in view, last; when it shows, everything before it was applied.
  const probe = id(3)
  await publishPeerStatus(broker.broker, { clientId: probe, state: 'offline', since: Date.now(), epoch: ++epochs[3]!, reason: 'kicked' })
  await page.waitForFunction((p) => document.querySelector(`#devices tr[data-id="${p}"]`)?.getAttribute('data-state') === 'offline', probe, { timeout: 30_000 })
  const frames = await page.evaluate(() => (window as unknown as { vigilPerf: Perf }).vigilPerf.frames)
  const applied = frames.reduce((n, f) => n + f.statuses, 0)
  const ms = frames.map((f) => f.ms).sort((a, b) => a - b)
  t.comment(`${sent + 1} live updates arrived in ${frames.length} frames (${(applied / frames.length).toFixed(0)} per frame); ` +
    `per-frame apply+draw p50 ${pct(ms, 0.5).toFixed(1)} ms, p95 ${pct(ms, 0.95).toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(1)} ms`)
  t.equal(applied, sent + 1, 'every update was applied')
  t.ok(frames.length < applied, 'updates were coalesced per frame')
  t.equal(await page.textContent('#count-all'), DEVICES.toLocaleString('en-US'), 'still 20,000 devices')
  await screenshot('fleet-20000')

  // A trickle: one transition at a time, the usual day, each moved in place rather than re-sorting 20,000.
  await page.evaluate(() => { (window as unknown as { vigilPerf: Perf }).vigilPerf.frames.length = 0 })
  for (let k = 0; k < 100; k++) {
    const i = (k * 211) % DEVICES
    await publishPeerStatus(broker.broker, { clientId: id(i), state: STATES[k % 3]!, since: Date.now(), epoch: ++epochs[i]!, reason: null })
    await new Promise((resolve) => setTimeout(resolve, 20)) // pacing: a trickle, one transition every 20 ms
  }
  await publishPeerStatus(broker.broker, { clientId: probe, state: 'online', since: Date.now(), epoch: ++epochs[3]!, reason: null })
  await page.waitForFunction((p) => document.querySelector(`#devices tr[data-id="${p}"]`)?.getAttribute('data-state') === 'online', probe, { timeout: 30_000 })
  const single = (await page.evaluate(() => (window as unknown as { vigilPerf: Perf }).vigilPerf.frames)).map((f) => f.ms).sort((a, b) => a - b)
  t.comment(`101 single updates in ${single.length} frames; per-frame apply+draw p50 ${pct(single, 0.5).toFixed(2)} ms, p95 ${pct(single, 0.95).toFixed(2)} ms, max ${single[single.length - 1]!.toFixed(2)} ms`)
  t.ok(single.length > 50, 'spaced updates are drawn as they come')

  // Search still answers over the whole fleet.
  const t0 = Date.now()
  await page.fill('#search', 'sim-1999')
  await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr[data-id]').length === 10)
  t.comment(`search over ${DEVICES} devices drawn in ${Date.now() - t0} ms (round trip through the test driver)`)
})
