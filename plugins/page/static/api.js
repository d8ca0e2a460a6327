// The broker's HTTP API as the page uses it: JSON calls with the bearer token
// when one is set, and /api/events read through fetch (EventSource cannot send
// an Authorization header, and a token in the URL would end up in logs).

const TOKEN_KEY = 'vigil.token'

export class ApiError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

export const token = {
  get () { return sessionStorage.getItem(TOKEN_KEY) },
  set (value) { sessionStorage.setItem(TOKEN_KEY, value) },
  clear () { sessionStorage.removeItem(TOKEN_KEY) }
}

function headers (extra = {}) {
  const t = token.get()
  return t === null ? extra : { ...extra, authorization: `Bearer ${t}` }
}

export async function api (path, { method = 'GET', body } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }) }
  if (body !== undefined) init.body = JSON.stringify(body)
  const res = await fetch(path, init)
  if (res.status === 204) return null
  const text = await res.text()
  let data = null
  try { data = text === '' ? null : JSON.parse(text) } catch { data = null }
  if (!res.ok) {
    // 504 on a command carries the command record: the caller shows it as an outcome.
    if (data !== null && typeof data === 'object' && data.status === 'timeout') return data
    throw new ApiError(res.status, data?.error ?? 'http_' + res.status, data?.message ?? `HTTP ${res.status}`)
  }
  return data
}

/**
 * Read /api/events until `signal` aborts. `onOpen` runs each time the stream is
 * (re)established, before any of its events: the caller reloads the list there,
 * since events may have been missed while it was down; if it throws, the stream
 * is dropped and tried again. Reconnects with backoff (0.5 s doubling to 10 s).
 */
export async function streamEvents ({ onOpen, onStatus, onLink, onUnauthorized, signal }) {
  let backoff = 500
  while (!signal.aborted) {
    // One controller per attempt: a failed attempt releases its connection before the next one.
    const attempt = new AbortController()
    const stop = () => attempt.abort()
    signal.addEventListener('abort', stop, { once: true })
    try {
      const res = await fetch('/api/events', { headers: headers({ accept: 'text/event-stream' }), signal: attempt.signal, cache: 'no-store' })
      if (res.status === 401) { onUnauthorized(); return }
      if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
      onLink('live')
      // The list is loaded once the stream is open, so no transition falls between the two.
      await onOpen()
      backoff = 500
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          dispatch(block, onStatus)
        }
      }
    } catch (err) {
      if (signal.aborted) return
    } finally {
      attempt.abort()
      signal.removeEventListener('abort', stop)
    }
    onLink('reconnecting')
    await new Promise((resolve) => setTimeout(resolve, backoff))
    backoff = Math.min(backoff * 2, 10_000)
  }
}

function dispatch (block, onStatus) {
  let event = 'message'
  let data = ''
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'data') data += (data === '' ? '' : '\n') + value
  }
  if (event !== 'liveness' || data === '') return
  try { onStatus(JSON.parse(data)) } catch { /* a malformed event is skipped, the next full load corrects it */ }
}
