// How values read on the page. State is always a word with its symbol, never a colour alone.

export const STATE_SYMBOL = { online: '●', silent: '◐', offline: '○' }

export function age (ms, now) {
  if (ms === null || ms === undefined) return '–'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

export function iso (ms) {
  return ms === null || ms === undefined ? '' : new Date(ms).toISOString()
}

export function skew (ms) {
  if (ms === null || ms === undefined) return '–'
  const a = Math.abs(ms)
  const sign = ms < 0 ? '−' : '+'
  if (a < 1000) return `${sign}${a} ms`
  if (a < 120_000) return `${sign}${(a / 1000).toFixed(1)} s`
  return `${sign}${Math.round(a / 60_000)} min`
}

export function text (v) {
  return v === null || v === undefined || v === '' ? '–' : String(v)
}

/** Cell text for a column of the table. */
export function cell (column, status, now) {
  const v = status[column.key]
  if (column.type === 'state') return `${STATE_SYMBOL[v] ?? '?'} ${v}`
  if (column.type === 'time') return age(v, now)
  if (column.key === 'clockSkewMs') return skew(v)
  return text(v)
}
