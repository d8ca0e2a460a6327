import t from 'tap'
import { MAX_PAGE, pageOf, parsePageQuery } from '../../plugins/api/paging.js'

/** The code of the ApiError `fn` throws, or null. */
function codeOf (fn: () => unknown): string | null {
  try { fn(); return null } catch (err) { return (err as { vigilCode?: string }).vigilCode ?? 'no code' }
}

const ids = (...list: string[]): Array<{ clientId: string }> => list.map((clientId) => ({ clientId }))
const names = (items: Array<{ clientId: string }>): string[] => items.map((i) => i.clientId)

t.test('no limit and no after: the unpaged answer', async (t) => {
  t.equal(parsePageQuery({}), null)
  t.equal(parsePageQuery({ state: 'online' }), null)
})

t.test('limit and after are read and checked', async (t) => {
  t.same(parsePageQuery({ limit: '2' }), { limit: 2, after: null })
  t.same(parsePageQuery({ after: 'dev-1' }), { limit: MAX_PAGE, after: 'dev-1' })
  for (const limit of ['0', '-1', '1.5', 'ten', String(MAX_PAGE + 1), '']) {
    t.equal(codeOf(() => parsePageQuery({ limit })), 'bad_limit', `limit=${limit}`)
  }
  t.equal(codeOf(() => parsePageQuery({ limit: ['1', '2'] })), 'bad_limit', 'limit given twice')
  t.equal(codeOf(() => parsePageQuery({ after: '' })), 'bad_after')
  t.equal(codeOf(() => parsePageQuery({ after: ['a', 'b'] })), 'bad_after')
})

t.test('pages walk the clientIds in order, each once, whatever order the view holds them in', async (t) => {
  const all = Array.from({ length: 57 }, (_, i) => `dev-${String((i * 37) % 57).padStart(3, '0')}`)
  const seen: string[] = []
  let after: string | null = null
  let pages = 0
  for (;;) {
    const page: { items: Array<{ clientId: string }>, next: string | null } = pageOf(ids(...all), { limit: 10, after })
    seen.push(...names(page.items))
    pages++
    t.ok(page.items.length <= 10)
    if (page.next === null) break
    t.equal(page.next, page.items[page.items.length - 1]!.clientId, 'next is the last clientId of the page')
    after = page.next
  }
  t.equal(pages, 6)
  t.same(seen, [...all].sort(), 'every client once, sorted')
})

t.test('an exact last page says next: null; a cursor past the end gives an empty page', async (t) => {
  t.same(pageOf(ids('b', 'a', 'c', 'd'), { limit: 2, after: null }), { items: ids('a', 'b'), next: 'b' })
  t.same(pageOf(ids('b', 'a', 'c', 'd'), { limit: 2, after: 'b' }), { items: ids('c', 'd'), next: null })
  t.same(pageOf(ids('b', 'a'), { limit: 5, after: 'z' }), { items: [], next: null })
  t.same(pageOf(ids('b', 'a', 'c'), { limit: 5, after: 'aa' }), { items: ids('b', 'c'), next: null }, 'a cursor that is no clientId still orders')
})
