import { get as httpsGet } from 'node:https'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { connectClient, subscribe } from '../helpers/clients.js'
import { RequestBudget, tokenMatches } from '../../broker/http-guard.js'
import { metricValue } from '../support/prom-text.js'

const token = 'write-token-0123456789'
const readToken = 'read-token-0123456789'
const bearer = (value: string): Record<string, string> => ({ authorization: `Bearer ${value}` })

t.test('tokens compare in constant time over hashes: any length, any content', async (t) => {
  t.ok(tokenMatches(`Bearer ${token}`, token))
  t.notOk(tokenMatches(`Bearer ${token}x`, token))
  t.notOk(tokenMatches('Bearer ', token))
  t.notOk(tokenMatches(token, token), 'the Bearer scheme is required')
})

t.test('http.readToken opens GET /api/* only; http.token opens everything; the page and health need none', async (t) => {
  const broker = await startBroker(t, { http: { token, readToken } })
  t.equal((await broker.http.inject({ method: 'GET', url: '/api/devices', headers: bearer(readToken) })).statusCode, 200)
  const del = await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-1', headers: bearer(readToken) })
  t.equal(del.statusCode, 403)
  t.equal(del.json().error, 'forbidden')
  t.equal((await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-1' })).statusCode, 401, 'one unauthenticated DELETE decommissions nothing')
  t.not((await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-1', headers: bearer(token) })).statusCode, 401)
  t.equal((await broker.http.inject({ method: 'GET', url: '/api/devices', headers: bearer('read-token-0123456780') })).statusCode, 401)
  for (const url of ['/', '/healthz', '/readyz', '/metrics']) {
    t.notOk([401, 403].includes((await broker.http.inject({ method: 'GET', url })).statusCode), `${url} needs no token`)
  }
  t.equal(await metricValue(broker.metrics, 'vigil_http_refused_total', { reason: 'forbidden' }), 1)
  t.equal(await metricValue(broker.metrics, 'vigil_http_refused_total', { reason: 'unauthorized' }), 2)
})

t.test('a per-address request budget: over it 429 with Retry-After, counted; other addresses unaffected', async (t) => {
  const broker = await startBroker(t, { http: { rateLimit: { requests: 5, window: '60s' } } })
  for (let i = 0; i < 5; i++) t.equal((await broker.http.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  const over = await broker.http.inject({ method: 'GET', url: '/healthz' })
  t.equal(over.statusCode, 429)
  t.equal(over.json().error, 'rate_limited')
  t.ok(Number(over.headers['retry-after']) >= 1 && Number(over.headers['retry-after']) <= 60, `Retry-After ${over.headers['retry-after']}`)
  t.equal((await broker.http.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.9' })).statusCode, 200)
  t.equal(await metricValue(broker.metrics, 'vigil_http_refused_total', { reason: 'rate_limited' }), 1)
  const budget = new RequestBudget(1, 1000)
  t.equal(budget.take('a', 0), null)
  t.equal(budget.take('a', 10), 1)
  t.equal(budget.take('a', 1000), null, 'a new window')
})

t.test('commands waiting for an ack are capped per device and in all (429, counted)', async (t) => {
  const broker = await startBroker(t, { http: { maxCommandsPerDevice: 2, maxCommandsInFlight: 3 } })
  for (const id of ['d1', 'd2']) {
    const device = await connectClient(t, broker.url, { clientId: id })
    await subscribe(device, `devices/${id}/commands`, 1)
  }
  const post = (id: string) =>
    broker.http.inject({ method: 'POST', url: `/api/devices/${id}/commands`, payload: { command: 'noop', timeout: '1s', retries: 0 } })
  const waiting = [post('d1'), post('d1')]
  await new Promise((resolve) => setImmediate(resolve))
  const third = await post('d1')
  t.equal(third.statusCode, 429)
  t.equal(third.json().error, 'too_many_commands')
  waiting.push(post('d2'))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await post('d2')).statusCode, 429, 'the total cap')
  for (const res of await Promise.all(waiting)) t.equal(res.statusCode, 504, 'the held ones time out as asked')
  t.match(await broker.metrics.getSingleMetricAsString('vigil_commands_total'), /outcome="rejected_busy"\} 2/)
  t.equal((await post('d1')).statusCode, 504, 'slots are freed once the commands finish')
})

t.test('event streams are capped (503 with Retry-After, counted)', async (t) => {
  const broker = await startBroker(t, { http: { maxEventStreams: 1 } })
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const first = await fetch(`${broker.httpUrl}/api/events`, { signal: controller.signal })
  t.equal(first.status, 200)
  const second = await fetch(`${broker.httpUrl}/api/events`)
  t.equal(second.status, 503)
  t.equal((await second.json() as { error: string }).error, 'too_many_streams')
  t.equal(await metricValue(broker.metrics, 'vigil_http_refused_total', { reason: 'events_full' }), 1)
})

t.test('http.tls serves HTTPS', async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { http: { tls: { cert: certs.cert, key: certs.key } } })
  const body = await new Promise<string>((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port: broker.ports.http!, path: '/healthz', ca: certs.certPem, servername: 'localhost' }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
  t.same(JSON.parse(body), { status: 'ok' })
})
