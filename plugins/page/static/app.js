// The fleet page: load the device list, keep it live from /api/events, and draw
// only what changed once per animation frame however many events arrive.
import { api, ApiError, streamEvents, token } from './api.js'
import { DeviceView } from './device.js'
import { Fleet, STATES } from './fleet.js'
import { DeviceTable } from './table.js'

const $ = (sel) => document.querySelector(sel)

// Measured by the page itself, read by the tests (they print them, never assert tight numbers).
const perf = window.vigilPerf = { listLoadedMs: null, firstRowsMs: null, devices: 0, frames: [] }

const fleet = new Fleet()
const table = new DeviceTable({
  scroller: $('#scroller'),
  table: $('#devices'),
  fleet,
  onSort (key) {
    const dir = fleet.sortKey === key ? -fleet.sortDir : 1
    fleet.setSort(key, dir)
    table.updateHeader()
    redraw()
  }
})
const device = new DeviceView({
  dialog: $('#device'),
  onDecommissioned (clientId) {
    fleet.remove(clientId)
    announce(`${clientId} decommissioned.`)
    redraw()
  },
  onUnauthorized: () => askToken('The token was refused.')
})

let queue = []
let loaded = false
let frameRequested = false
let stream = null

function announce (message) { $('#notice').textContent = message }

const count = new Intl.NumberFormat()

function renderCounts () {
  $('#count-all').textContent = count.format(fleet.size)
  for (const s of STATES) $(`#count-${s}`).textContent = count.format(fleet.counts[s] ?? 0)
  $('#shown').textContent = fleet.view.length === fleet.size
    ? `${count.format(fleet.size)} devices`
    : `${count.format(fleet.view.length)} of ${count.format(fleet.size)} devices shown`
}

function redraw () {
  renderCounts()
  table.render()
}

/** One frame: every status queued since the last one, applied and drawn together. */
function frame () {
  frameRequested = false
  if (!loaded || queue.length === 0) return
  const t0 = performance.now()
  const batch = queue
  queue = []
  const taken = fleet.apply(batch)
  if (taken > 0) redraw()
  for (const s of batch) if (s.clientId === device.clientId) device.update(fleet.byId.get(s.clientId) ?? s)
  perf.frames.push({ statuses: batch.length, ms: performance.now() - t0 })
  if (perf.frames.length > 1000) perf.frames.splice(0, 500)
}

function onStatus (status) {
  queue.push(status)
  if (!frameRequested) { frameRequested = true; requestAnimationFrame(frame) }
}

async function loadList () {
  const t0 = performance.now()
  const { devices } = await api('/api/devices')
  perf.listLoadedMs = performance.now() - t0
  // Events that crossed the list on the wire are applied on top; stale ones are refused by epoch/since.
  const pending = queue
  queue = []
  fleet.load(devices)
  if (pending.length > 0) fleet.apply(pending)
  loaded = true
  redraw()
  if (perf.firstRowsMs === null) {
    perf.firstRowsMs = performance.now()
    perf.devices = fleet.size
    performance.mark('vigil-first-rows')
  }
  $('#app').setAttribute('aria-busy', 'false')
}

function link (state) {
  const el = $('#link')
  el.dataset.state = state
  el.textContent = state === 'live' ? '● Live' : state === 'reconnecting' ? '◌ Reconnecting…' : '○ Not connected'
}

function start () {
  $('#token-panel').hidden = true
  $('#app').hidden = false
  $('#sign-out').hidden = token.get() === null
  stream?.abort()
  stream = new AbortController()
  loaded = false
  queue = []
  streamEvents({
    signal: stream.signal,
    onLink: link,
    onStatus,
    onUnauthorized: () => askToken(token.get() === null ? 'This broker needs its access token.' : 'The token was refused.'),
    async onOpen () {
      try {
        await loadList()
        announce('')
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return askToken('The token was refused.')
        announce(`Could not load the device list (${err.message}); trying again.`)
        // Dropping the stream retries both, and stops queueing events for a list that never came.
        queue = []
        throw err
      }
    }
  })
}

function askToken (why) {
  stream?.abort()
  link('down')
  if (device.open) device.dialog.close()
  $('#app').hidden = true
  $('#token-panel').hidden = false
  $('#token-why').textContent = why
  const input = $('#token-input')
  input.value = ''
  input.focus()
}

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const value = $('#token-input').value.trim()
  if (value === '') return
  token.set(value)
  start()
})
$('#sign-out').addEventListener('click', () => { token.clear(); askToken('Signed out. Enter the token to see the fleet.') })

// Filter by state: the count buttons are toggles (aria-pressed), one at a time.
for (const button of document.querySelectorAll('.counts button')) {
  button.addEventListener('click', () => {
    const state = button.dataset.state === '' ? null : button.dataset.state
    for (const b of document.querySelectorAll('.counts button')) b.setAttribute('aria-pressed', String(b === button))
    fleet.setFilter(state, $('#search').value)
    table.scrollToTop()
    redraw()
  })
}
$('#search').addEventListener('input', () => {
  fleet.setFilter(fleet.state, $('#search').value)
  table.scrollToTop()
  redraw()
})

function route () {
  const m = /^#device\/(.+)$/.exec(location.hash)
  if (m === null) { if (device.open) device.dialog.close(); return }
  let clientId
  try { clientId = decodeURIComponent(m[1]) } catch { clientId = m[1] }
  device.show(clientId, fleet.byId.get(clientId)).catch((err) => announce(err.message))
}
window.addEventListener('hashchange', route)

// Relative times ("12 s ago") move on: redraw the rows in view once a second (30 rows, not 20,000).
setInterval(() => { if (loaded) table.render() }, 1000)

start()
route()
