import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'

const DEVICES = 23

t.test('GET /api/devices pages with ?limit=&after= and next; without them the answer is unchanged', async (t) => {
  const broker = await startBroker(t)
  const ids = Array.from({ length: DEVICES }, (_, i) => `page-dev-${String((i * 7) % DEVICES).padStart(2, '0')}`)
  for (const clientId of ids) {
    await connectClient(t, broker.url, { clientId, will: { topic: `devices/${clientId}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } })
  }
  const liveness = broker.services.need('liveness')
  await waitFor(() => ids.every((id) => liveness.get(id)?.state === 'online'), 5000, 'every device online')

  const whole = await broker.http.inject({ url: '/api/devices' })
  t.equal(whole.statusCode, 200)
  const body = whole.json() as { devices: Array<{ clientId: string }> }
  t.same(Object.keys(body), ['devices'], 'the unpaged answer has no next')
  t.same(body.devices.map((d) => d.clientId), [...ids].sort())

  const paged: string[] = []
  let url = '/api/devices?limit=10'
  let pages = 0
  for (;;) {
    const res = await broker.http.inject({ url })
    t.equal(res.statusCode, 200, url)
    const page = res.json() as { devices: Array<{ clientId: string, state: string }>, next: string | null }
    t.ok(page.devices.length <= 10)
    t.ok(page.devices.every((d) => d.state === 'online'), 'full status objects')
    paged.push(...page.devices.map((d) => d.clientId))
    pages++
    if (page.next === null) break
    url = `/api/devices?limit=10&after=${encodeURIComponent(page.next)}`
  }
  t.equal(pages, 3)
  t.same(paged, body.devices.map((d) => d.clientId), 'the pages together are the whole list, in order')

  const filtered = await broker.http.inject({ url: '/api/devices?state=silent&limit=5' })
  t.same(filtered.json(), { devices: [], next: null }, 'filters apply before paging')

  for (const [query, code] of [['limit=0', 'bad_limit'], ['limit=abc', 'bad_limit'], ['after=', 'bad_after'], ['limit=5&page=2', 'unknown_field']]) {
    const res = await broker.http.inject({ url: `/api/devices?${query}` })
    t.equal(res.statusCode, 400, query)
    t.equal(res.json().error, code, query)
  }
})
