/**
 * Optional paging of GET /api/devices (issue 15): `?limit=N&after=<clientId>`
 * answers the N statuses whose clientId sorts after `after`, and `next`, the
 * clientId to pass as `after` for the following page (null on the last one).
 * A whole 100,000-device list cost 100-450 ms to sort and serialise; a page
 * costs one pass over the fleet view (comparisons, no sort of the whole list)
 * and the serialisation of N statuses. Pure.
 */
import { badRequest } from './http-errors.js'
import { isPlainObject } from './validation.js'

/** The largest page a client may ask for. */
export const MAX_PAGE = 10_000

export interface PageQuery { limit: number, after: string | null }

/** `?limit=&after=`: null when neither is given (the unpaged answer). */
export function parsePageQuery (query: unknown): PageQuery | null {
  const fields = isPlainObject(query) ? query : {}
  const { limit, after } = fields
  if (limit === undefined && after === undefined) return null
  let n = MAX_PAGE
  if (limit !== undefined) {
    n = typeof limit === 'string' && /^\d{1,6}$/.test(limit) ? Number(limit) : Number.NaN
    if (!(n >= 1 && n <= MAX_PAGE)) throw badRequest('bad_limit', `limit must be an integer from 1 to ${MAX_PAGE} (got ${JSON.stringify(limit)})`)
  }
  if (after !== undefined && (typeof after !== 'string' || after.length === 0)) {
    throw badRequest('bad_after', `after must be a clientId (got ${JSON.stringify(after)})`)
  }
  return { limit: n, after: (after as string | undefined) ?? null }
}

const byId = <T extends { clientId: string }>(a: T, b: T): number => a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0

/**
 * The first `limit` items whose clientId sorts after `after`, in clientId
 * order, and the next cursor. Keeps a sorted window of limit + 1 (one more,
 * to know whether another page follows): an item enters only if it sorts
 * before the window's last, so a pass over n items costs about n comparisons.
 */
export function pageOf<T extends { clientId: string }> (items: Iterable<T>, page: PageQuery): { items: T[], next: string | null } {
  const keep = page.limit + 1
  const window: T[] = []
  for (const item of items) {
    const id = item.clientId
    if (page.after !== null && id <= page.after) continue
    if (window.length === keep && id >= window[keep - 1]!.clientId) continue
    // Binary search for the insertion point.
    let lo = 0
    let hi = window.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (window[mid]!.clientId < id) lo = mid + 1
      else hi = mid
    }
    window.splice(lo, 0, item)
    if (window.length > keep) window.pop()
  }
  if (window.length <= page.limit) return { items: window, next: null }
  window.pop()
  return { items: window, next: window[window.length - 1]!.clientId }
}

/** The unpaged answer: every item, sorted. */
export function sortedById<T extends { clientId: string }> (items: T[]): T[] {
  return items.sort(byId)
}
