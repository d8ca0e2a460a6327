// The device view: a modal dialog (focus stays in it, Esc closes it) with the
// status (and the insight fields when the broker sends them), the last will,
// the transition timeline, a command form and decommissioning.
import { api, ApiError } from './api.js'
import { age, iso, skew, STATE_SYMBOL, text } from './format.js'

const $ = (root, sel) => root.querySelector(sel)

function el (tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v
    else e.setAttribute(k, v)
  }
  for (const c of children) e.append(c)
  return e
}

function badge (state) {
  return el('span', { class: `badge s-${state}` }, `${STATE_SYMBOL[state] ?? '?'} ${state}`)
}

function timeText (ms) {
  return ms === null || ms === undefined ? '–' : `${iso(ms)} (${age(ms, Date.now())})`
}

/** The status fields shown, in order; insight fields only when the status has them. */
const FIELDS = [
  ['state', 'State', (v) => badge(v)],
  ['reason', 'Reason', text],
  ['since', 'Since', timeText],
  ['connectedAt', 'Connected at', timeText],
  ['lastHeartbeat', 'Last heartbeat', timeText],
  ['lastPacket', 'Last packet', timeText],
  ['epoch', 'Epoch', text],
  ['node', 'Node', text],
  ['fw', 'Firmware', text, true],
  ['restarts', 'Restarts', text, true],
  ['lastRestart', 'Last restart', timeText, true],
  ['clockSkewMs', 'Clock skew', skew, true],
  ['flapping', 'Flapping', (v) => v ? 'yes (more than 5 connects in 5 minutes)' : 'no', true],
  ['address', 'Address', text, true],
  ['kind', 'Kind', () => 'observer (no will, no heartbeat yet: not counted as a device)', true],
  ['availability', 'Availability (online share)', (v) => Object.entries(v).map(([k, x]) => `${k}: ${(100 * x).toFixed(1)} %`).join(', '), true]
]

export class DeviceView {
  constructor ({ dialog, onDecommissioned, onUnauthorized }) {
    this.dialog = dialog
    this.onDecommissioned = onDecommissioned
    this.onUnauthorized = onUnauthorized
    this.clientId = null
    this.status = null
    $(dialog, '.close').addEventListener('click', () => dialog.close())
    dialog.addEventListener('close', () => {
      this.clientId = null
      if (location.hash.startsWith('#device/')) history.replaceState(null, '', location.pathname + location.search)
    })
    $(dialog, 'form.command').addEventListener('submit', (e) => { e.preventDefault(); this.sendCommand() })
    $(dialog, '.decommission').addEventListener('click', () => this.askDecommission(true))
    $(dialog, '.confirm-no').addEventListener('click', () => this.askDecommission(false))
    $(dialog, '.confirm-yes').addEventListener('click', () => this.decommission())
  }

  get open () { return this.dialog.open }

  async show (clientId, known) {
    this.clientId = clientId
    $(this.dialog, 'h2 .id').textContent = clientId
    $(this.dialog, '.command-result').textContent = ''
    $(this.dialog, '.decommission-result').textContent = ''
    this.askDecommission(false)
    this.renderStatus(known ?? null)
    if (!this.dialog.open) this.dialog.showModal()
    const id = encodeURIComponent(clientId)
    await Promise.all([
      api(`/api/devices/${id}`).then((s) => this.update(s), (err) => this.failed(err, '.status')),
      this.loadWill(id),
      this.loadHistory(id)
    ])
  }

  failed (err, where) {
    if (err instanceof ApiError && err.status === 401) return this.onUnauthorized()
    const target = $(this.dialog, where)
    target.replaceChildren(el('p', { class: 'error' }, err.status === 404 ? 'Not known to the broker (decommissioned or forgotten).' : `Could not load: ${err.message}`))
  }

  /** A live status for the device on view. */
  update (status) {
    if (status === null || status.clientId !== this.clientId) return
    this.renderStatus(status)
  }

  renderStatus (status) {
    this.status = status
    const box = $(this.dialog, '.status')
    if (status === null) { box.replaceChildren(el('p', {}, 'Loading…')); return }
    const dl = el('dl')
    for (const [key, label, show, insight] of FIELDS) {
      const v = status[key]
      if (insight && (v === undefined || v === null)) continue
      if (key === 'kind' && v !== 'observer') continue
      dl.append(el('dt', {}, label), el('dd', { 'data-field': key }, show(v)))
    }
    box.replaceChildren(dl)
    $(this.dialog, 'form.command button').disabled = status.state === 'offline'
    $(this.dialog, '.command-hint').textContent = status.state === 'offline' ? 'The device is offline: commands need it connected.' : ''
  }

  async loadWill (id) {
    const box = $(this.dialog, '.will')
    box.replaceChildren(el('p', {}, 'Loading…'))
    try {
      const will = await api(`/api/devices/${id}/will`)
      const parts = [el('p', {}, 'Will topic: ', el('code', {}, will.topic))]
      parts.push(el('h4', {}, 'Set at its last connect'))
      parts.push(will.registered === null
        ? el('p', {}, 'No will known (none set, or it connected to another node).')
        : message(will.registered, `QoS ${will.registered.qos}${will.registered.retain ? ', retained' : ''}, connected ${timeText(will.registered.connectedAt)}`))
      parts.push(el('h4', {}, 'Retained on that topic now'))
      parts.push(will.retained === null
        ? el('p', {}, 'Nothing retained.')
        : message(will.retained, 'After the device dies this is the will as the broker published it (stamped); after a birth message, the birth.'))
      box.replaceChildren(...parts)
    } catch (err) {
      this.failed(err, '.will')
    }
  }

  async loadHistory (id) {
    const section = $(this.dialog, '.history')
    const box = $(section, '.timeline')
    section.hidden = false
    box.replaceChildren(el('p', {}, 'Loading…'))
    try {
      const { transitions } = await api(`/api/devices/${id}/history`)
      if (transitions.length === 0) { box.replaceChildren(el('p', {}, 'No transitions recorded.')); return }
      const ol = el('ol', { reversed: '' })
      for (const t of [...transitions].sort((a, b) => b.at - a.at)) {
        ol.append(el('li', {}, el('time', { datetime: iso(t.at) }, iso(t.at)), ' ', badge(t.state),
          t.reason ? ` ${t.reason}` : '', el('span', { class: 'meta' }, ` epoch ${t.epoch}, node ${t.node}`)))
      }
      box.replaceChildren(ol)
    } catch (err) {
      // The history route may not exist on this broker: no timeline then, nothing broken.
      if (err instanceof ApiError && err.status === 404) { section.hidden = true; return }
      this.failed(err, '.history .timeline')
    }
  }

  async sendCommand () {
    const form = $(this.dialog, 'form.command')
    const out = $(this.dialog, '.command-result')
    const body = { command: form.elements.command.value.trim() }
    const argsText = form.elements.args.value.trim()
    if (argsText !== '') {
      try { body.args = JSON.parse(argsText) } catch { out.textContent = 'Arguments must be JSON, for example {"delay": 5}.'; return }
    }
    if (form.elements.timeout.value.trim() !== '') body.timeout = form.elements.timeout.value.trim()
    const button = form.querySelector('button')
    button.disabled = true
    out.textContent = `Sent ${body.command}; waiting for the device's ack…`
    const clientId = this.clientId
    try {
      const r = await api(`/api/devices/${encodeURIComponent(clientId)}/commands`, { method: 'POST', body })
      if (clientId !== this.clientId) return
      out.dataset.outcome = r.status
      const result = r.result === undefined || r.result === null ? '' : ` Result: ${JSON.stringify(r.result)}`
      out.textContent = r.status === 'acked'
        ? `✔ acked in ${r.latencyMs} ms (attempt ${r.attempts}).${result}`
        : r.status === 'failed'
          ? `✘ failed: the device answered with an error (attempt ${r.attempts}).${result}`
          : `✘ timed out: no ack after ${r.attempts} attempt(s).`
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.onUnauthorized()
      out.dataset.outcome = 'error'
      out.textContent = `✘ ${err.status === 409 ? 'The device is offline.' : err.message}`
    } finally {
      button.disabled = this.status?.state === 'offline'
    }
  }

  askDecommission (ask) {
    $(this.dialog, '.decommission').hidden = ask
    $(this.dialog, '.confirm').hidden = !ask
    if (ask) $(this.dialog, '.confirm-no').focus()
  }

  async decommission () {
    const clientId = this.clientId
    const out = $(this.dialog, '.decommission-result')
    out.textContent = `Decommissioning ${clientId}…`
    try {
      await api(`/api/devices/${encodeURIComponent(clientId)}`, { method: 'DELETE' })
      this.dialog.close()
      this.onDecommissioned(clientId)
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.onUnauthorized()
      out.textContent = `✘ ${err.message}`
      this.askDecommission(false)
    }
  }
}

function message (m, note) {
  return el('div', { class: 'message' },
    el('pre', {}, m.encoding === 'base64' ? `(binary, base64) ${m.payload}` : m.payload + (m.truncated ? ' …(cut)' : '')),
    el('p', { class: 'meta' }, note))
}
