import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { bearerMatches } from '../../broker/http.js'

t.test('health, readiness and metrics are served over real HTTP', async (t) => {
  const broker = await startBroker(t)
  const health = await fetch(`${broker.httpUrl}/healthz`)
  t.equal(health.status, 200)
  const ready = await fetch(`${broker.httpUrl}/readyz`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready' })
  const metrics = await fetch(`${broker.httpUrl}/metrics`)
  t.equal(metrics.status, 200)
  t.match(metrics.headers.get('content-type'), /text\/plain/)
  const text = await metrics.text()
  t.match(text, /# TYPE vigil_clients_connected gauge/)
  t.match(text, /process_cpu_user_seconds_total/, 'Node default metrics are included')
})

t.test('unknown routes are a JSON 404, never a 500', async (t) => {
  const broker = await startBroker(t)
  const res = await broker.http.inject({ method: 'GET', url: '/nope?x=1' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { error: 'not_found', message: 'no route GET /nope' })
  const post = await broker.http.inject({ method: 'POST', url: '/healthz', payload: '{bad', headers: { 'content-type': 'application/json' } })
  t.ok(post.statusCode >= 400 && post.statusCode < 500, `client mistake -> ${post.statusCode}`)
  t.type(post.json().error, 'string')
})

t.test('http.token guards /api/* only', async (t) => {
  const token = 'a-very-long-secret-token'
  const broker = await startBroker(t, { http: { token } })
  const missing = await broker.http.inject({ method: 'GET', url: '/api/devices' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().error, 'unauthorized')
  const wrong = await broker.http.inject({ method: 'GET', url: '/api/devices', headers: { authorization: 'Bearer nope' } })
  t.equal(wrong.statusCode, 401)
  const right = await broker.http.inject({ method: 'GET', url: '/api/devices', headers: { authorization: `Bearer ${token}` } })
  t.not(right.statusCode, 401, 'the right token passes the guard')
  t.equal((await broker.http.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, '/metrics stays open')
  t.equal((await broker.http.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, '/healthz stays open')
})

t.test('bearer comparison', async (t) => {
  t.ok(bearerMatches('Bearer abc', 'abc'))
  t.notOk(bearerMatches('Bearer abd', 'abc'))
  t.notOk(bearerMatches('Basic abc', 'abc'))
  t.notOk(bearerMatches(undefined, 'abc'))
  t.notOk(bearerMatches('Bearer abcd', 'abc'))
})
