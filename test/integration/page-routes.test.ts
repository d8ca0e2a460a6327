/**
 * The page plugin's HTTP side: `/` and its files are served (also with
 * http.token set, while /api/* is not), with a policy that keeps the page to
 * its own origin; GET /api/devices/{clientId}/will answers what the device
 * set at CONNECT and what its will topic retains, with clear 4xx otherwise.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'

import { startVigilProcess } from '../helpers/vigil-process.js'
import { freePort } from '../support/ports.js'

t.test('/ and /page/* are served with a same-origin policy; unknown files are a 404', async (t) => {
  const broker = await startBroker(t, { http: { token: 'routes-test-token-0123456789' } })
  const page = await broker.http.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200, '/ loads without the token')
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/)
  t.match(page.body, /<script type="module" src="\/page\/app.js">/)
  for (const file of ['app.js', 'api.js', 'fleet.js', 'table.js', 'device.js', 'format.js', 'style.css']) {
    const res = await broker.http.inject({ method: 'GET', url: `/page/${file}` })
    t.equal(res.statusCode, 200, `${file} served`)
  }
  t.notMatch(page.body, /https?:\/\//, 'the page names no other origin')
  const missing = await broker.http.inject({ method: 'GET', url: '/page/..%2f..%2fpackage.json' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'not_found', 'only the page\'s own files, by name')
  const api = await broker.http.inject({ method: 'GET', url: '/api/devices/x/will' })
  t.equal(api.statusCode, 401, 'the will route is behind the token like the rest of /api')
})

t.test('GET /api/devices/{id}/will: the will set at CONNECT, then the stamped will retained after death', async (t) => {
  const broker = await startBroker(t)
  const client = await connectClient(t, broker.url, {
    clientId: 'w-1', will: { topic: 'site/w-1/alive', payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  })
  client.publish('site/w-1/hb', '{}')
  const before = (await broker.http.inject({ method: 'GET', url: '/api/devices/w-1/will' })).json()
  t.same(before.registered, { topic: 'site/w-1/alive', payload: '{"state":"offline","ts":0}', encoding: 'utf8', truncated: false, qos: 1, retain: true, connectedAt: before.registered.connectedAt })
  t.equal(before.topic, 'site/w-1/alive', 'the registered will names the topic')
  t.equal(before.retained, null, 'nothing retained there yet')

  ;(client as unknown as { stream: { destroy(): void } }).stream.destroy()
  await waitFor(() => broker.services.need('liveness').get('w-1')?.state === 'offline', 5000, 'w-1 offline')
  const after = await waitFor(async () => {
    const body = (await broker.http.inject({ method: 'GET', url: '/api/devices/w-1/will' })).json()
    return body.retained !== null ? body : undefined
  }, 5000, 'the will retained')
  const will = JSON.parse((await after).retained.payload) as Record<string, unknown>
  t.equal(will.state, 'offline')
  t.equal(will.reason, 'connection_lost', 'stamped with the reason')
  t.ok(typeof will.ts === 'number' && will.ts > 0, 'and the time of death')
})

t.test('GET /api/devices/{id}/will: binary and oversized wills, unknown devices and parameters', async (t) => {
  const broker = await startBroker(t)
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01])
  const a = await connectClient(t, broker.url, { clientId: 'bin-1', will: { topic: 'devices/bin-1/status', payload: binary, qos: 0, retain: false } })
  const big = await connectClient(t, broker.url, { clientId: 'big-1', will: { topic: 'devices/big-1/status', payload: Buffer.alloc(10_000, 'x'), qos: 0, retain: false } })
  a.publish('devices/bin-1/hb', '{}')
  big.publish('devices/big-1/hb', '{}')
  await waitFor(() => broker.services.need('liveness').get('big-1'), 5000, 'big-1 known')
  const b = (await broker.http.inject({ method: 'GET', url: '/api/devices/bin-1/will' })).json()
  t.equal(b.registered.encoding, 'base64')
  t.same(Buffer.from(b.registered.payload, 'base64'), binary, 'binary payloads come back intact, as base64')
  const g = (await broker.http.inject({ method: 'GET', url: '/api/devices/big-1/will' })).json()
  t.equal(g.registered.truncated, true)
  t.equal(g.registered.payload.length, 4096, 'cut to 4 KiB')

  const unknown = await broker.http.inject({ method: 'GET', url: '/api/devices/nobody/will' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'unknown_device')
  const bad = await broker.http.inject({ method: 'GET', url: '/api/devices/bin-1/will?full=1' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'unknown_field')

  // A device with no will: no registered will, the device protocol's topic.
  const plain = await connectClient(t, broker.url, { clientId: 'plain-1' })
  plain.publish('devices/plain-1/hb', '{}')
  await waitFor(() => broker.services.need('liveness').get('plain-1'), 5000, 'plain-1 known')
  const p = (await broker.http.inject({ method: 'GET', url: '/api/devices/plain-1/will' })).json()
  t.equal(p.registered, null)
  t.equal(p.topic, 'devices/plain-1/status')
})

t.test('the built broker (dist/, what npm start runs) serves the page from the source tree', async (t) => {
  const [mqtt, http] = [await freePort(), await freePort()]
  await startVigilProcess(t, { VIGIL_MQTT_PORT: String(mqtt), VIGIL_HTTP_PORT: String(http), VIGIL_MQTT_WS: 'null', VIGIL_LOG_LEVEL: 'silent' })
  const page = await fetch(`http://127.0.0.1:${http}/`)
  t.equal(page.status, 200)
  t.match(await page.text(), /<title>Vigil fleet<\/title>/)
  t.equal((await fetch(`http://127.0.0.1:${http}/page/app.js`)).status, 200)
})
