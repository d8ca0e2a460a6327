// The device table, virtualised: only the rows in view (plus a margin) exist in
// the DOM, so 20,000 devices cost as much to draw as 30. Rows have one fixed
// height; spacer rows above and below give the scrollbar its true length. The
// rows are real <tr>s in a real <table>, with aria-rowcount/aria-rowindex so a
// screen reader knows where it is.
import { COLUMNS } from './fleet.js'
import { cell, iso } from './format.js'

export const ROW_HEIGHT = 32
const OVERSCAN = 8

export class DeviceTable {
  constructor ({ scroller, table, fleet, onSort }) {
    this.scroller = scroller
    this.table = table
    this.fleet = fleet
    this.tbody = table.tBodies[0]
    this.top = document.createElement('tr')
    this.bottom = document.createElement('tr')
    this.top.className = this.bottom.className = 'spacer'
    this.top.setAttribute('aria-hidden', 'true')
    this.bottom.setAttribute('aria-hidden', 'true')
    this.tbody.append(this.top, this.bottom)
    this.rows = []
    this.buildHeader(onSort)
    // Rows are recycled as the window moves: remember which device has the focus, so it follows the device.
    this.focusedId = null
    this.tbody.addEventListener('focusin', (e) => { this.focusedId = e.target.closest('tr')?.dataset.id ?? null })
    this.tbody.addEventListener('focusout', () => { queueMicrotask(() => { if (!this.tbody.contains(document.activeElement)) this.focusedId = null }) })
    scroller.addEventListener('scroll', () => this.schedule(), { passive: true })
    new ResizeObserver(() => this.schedule()).observe(scroller)
    this.pending = false
  }

  buildHeader (onSort) {
    const tr = this.table.tHead.rows[0]
    this.headers = COLUMNS.map((col) => {
      const th = document.createElement('th')
      th.scope = 'col'
      const button = document.createElement('button')
      button.type = 'button'
      button.className = 'sort'
      button.dataset.key = col.key
      button.innerHTML = `<span></span><span class="arrow" aria-hidden="true"></span>`
      button.firstChild.textContent = col.label
      button.addEventListener('click', () => onSort(col.key))
      th.append(button)
      tr.append(th)
      return { th, button, col }
    })
    this.updateHeader()
  }

  updateHeader () {
    for (const { th, button, col } of this.headers) {
      const active = this.fleet.sortKey === col.key
      const dir = this.fleet.sortDir === 1 ? 'ascending' : 'descending'
      th.setAttribute('aria-sort', active ? dir : 'none')
      button.lastChild.textContent = active ? (this.fleet.sortDir === 1 ? '▲' : '▼') : ''
      button.title = `Sort by ${col.label}${active ? ` (now ${dir})` : ''}`
    }
  }

  schedule () {
    if (this.pending) return
    this.pending = true
    requestAnimationFrame(() => { this.pending = false; this.render() })
  }

  /** Draw the rows in view from fleet.view; returns how many rows were drawn. */
  render (now = Date.now()) {
    const view = this.fleet.view
    const height = this.scroller.clientHeight || 600
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT) - OVERSCAN)
    const count = Math.min(view.length - first, Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN)
    while (this.rows.length < count) this.rows.push(this.makeRow())
    this.top.style.height = `${first * ROW_HEIGHT}px`
    this.bottom.style.height = `${Math.max(0, view.length - first - count) * ROW_HEIGHT}px`
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i]
      if (i >= count) {
        if (row.tr.parentNode !== null) row.tr.remove()
        continue
      }
      if (row.tr.parentNode === null) this.tbody.insertBefore(row.tr, this.bottom)
      this.fill(row, view[first + i], first + i, now)
    }
    this.table.setAttribute('aria-rowcount', String(view.length + 1))
    if (this.focusedId !== null) {
      const active = document.activeElement
      const row = active?.closest?.('tr')
      if (row !== null && row !== undefined && this.tbody.contains(row) && row.dataset.id !== this.focusedId) {
        const id = this.focusedId
        const target = this.rows.find((r) => r.tr.parentNode !== null && r.tr.dataset.id === id)
        if (target !== undefined) target.cells[0].firstChild.focus({ preventScroll: true })
        this.focusedId = id
      }
    }
    return Math.max(0, count)
  }

  makeRow () {
    const tr = document.createElement('tr')
    const cells = COLUMNS.map((col) => {
      const td = document.createElement('td')
      td.className = `c-${col.key}`
      if (col.key === 'clientId') {
        const a = document.createElement('a')
        td.append(a)
      }
      tr.append(td)
      return td
    })
    return { tr, cells, status: null, now: 0 }
  }

  fill (row, status, index, now) {
    row.tr.setAttribute('aria-rowindex', String(index + 2))
    // Same object, same second: nothing on the row can have changed.
    if (row.status === status && Math.floor(row.now / 1000) === Math.floor(now / 1000)) return
    row.status = status
    row.now = now
    row.tr.dataset.state = status.state
    row.tr.dataset.id = status.clientId
    for (let c = 0; c < COLUMNS.length; c++) {
      const col = COLUMNS[c]
      const td = row.cells[c]
      const value = cell(col, status, now)
      if (col.key === 'clientId') {
        const a = td.firstChild
        if (a.textContent !== value) {
          a.textContent = value
          a.href = `#device/${encodeURIComponent(status.clientId)}`
        }
      } else if (td.textContent !== value) {
        td.textContent = value
      }
      if (col.type === 'time') td.title = iso(status[col.key])
    }
  }

  scrollToTop () { this.scroller.scrollTop = 0 }
}
