import { request as httpRequest, type IncomingMessage } from 'node:http'
import t from 'tap'
import { definePlugin } from '../../broker/plugin-types.js'
import { createVigil } from '../../broker/server.js'
import { apiPlugin } from '../../plugins/api/index.js'
import { commandsPlugin } from '../../plugins/commands/index.js'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { defaultPlugins } from '../../plugins/index.js'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { testConfig } from '../helpers/config.js'
import { connectedFleetPlugin, type ConnectedFleet } from '../support/connected-fleet.js'
import { retainedBarrier } from '../support/retained.js'

const TOKEN = 'a-test-token-of-32-characters-xx'

function plugins (fleet: Partial<ConnectedFleet> = {}, extra: ReturnType<typeof definePlugin>[] = []) {
  return [connectedFleetPlugin(fleet), ...extra, apiPlugin({ eventsHeartbeatMs: 100 }), commandsPlugin, metricsPlugin]
}

/** A stand-in for the retained plugin's decommission service, recording its calls. */
function decommissionPlugin (calls: string[]) {
  return definePlugin({
    name: 'decommission-stand-in',
    async setup (ctx) {
      ctx.provide('decommission', {
        async decommission (clientId) {
          calls.push(clientId)
          const known = ctx.need('liveness').get(clientId) !== undefined
          return { kicked: known, cleared: clientId === 'retained-only' ? 2 : 0 }
        }
      })
      return {}
    }
  })
}

t.test('GET /api/devices lists the fleet with a ?state= filter; one device by id; unknown -> 404', async (t) => {
  const fleet: Partial<ConnectedFleet> = {}
  const broker = await startBroker(t, {}, { plugins: plugins(fleet) })
  await connectClient(t, broker.url, { clientId: 'b-dev' })
  await connectClient(t, broker.url, { clientId: 'a-dev' })
  const gone = await connectClient(t, broker.url, { clientId: 'c-dev' })
  await gone.endAsync()
  await waitFor(() => broker.services.need('liveness').get('c-dev')?.state === 'offline', 2000, 'c-dev offline')
  fleet.markSilent!('b-dev')

  const all = await broker.http.inject({ url: '/api/devices' })
  t.equal(all.statusCode, 200)
  t.same(all.json().devices.map((d: { clientId: string, state: string }) => [d.clientId, d.state]),
    [['a-dev', 'online'], ['b-dev', 'silent'], ['c-dev', 'offline']], 'every device, sorted by clientId')
  for (const state of ['online', 'silent', 'offline']) {
    const res = await broker.http.inject({ url: `/api/devices?state=${state}` })
    t.same(res.json().devices.map((d: { state: string }) => d.state), [state], `?state=${state}`)
  }
  const one = await broker.http.inject({ url: '/api/devices/a-dev' })
  t.match(one.json(), { clientId: 'a-dev', state: 'online', reason: null, epoch: 1, node: broker.nodeId })

  for (const [url, status, code] of [
    ['/api/devices?state=sleeping', 400, 'bad_state'],
    ['/api/devices?state=online&state=silent', 400, 'bad_state'],
    ['/api/devices?stat=online', 400, 'unknown_field'],
    ['/api/devices/nobody', 404, 'unknown_device'],
    ['/api/nothing-here', 404, 'not_found']
  ] as const) {
    const res = await broker.http.inject({ url })
    t.equal(res.statusCode, status, `${url} -> ${status}`)
    t.match(res.json(), { error: code, message: String })
  }
})

t.test('DELETE /api/devices/{id}: 501 without the decommission service, 204 with it, 404 when nothing is known', async (t) => {
  const without = await startBroker(t, {}, { plugins: plugins() })
  const res501 = await without.http.inject({ method: 'DELETE', url: '/api/devices/x' })
  t.equal(res501.statusCode, 501)
  t.match(res501.json(), { error: 'not_implemented', message: /retained/ })

  const calls: string[] = []
  const broker = await startBroker(t, {}, { plugins: plugins({}, [decommissionPlugin(calls)]) })
  await connectClient(t, broker.url, { clientId: 'dev-x' })
  await waitFor(() => broker.services.need('liveness').get('dev-x'), 2000, 'dev-x known')
  const res = await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-x' })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await broker.http.inject({ method: 'DELETE', url: '/api/devices/retained-only' })).statusCode, 204, 'retained messages to clear are enough')
  const unknown = await broker.http.inject({ method: 'DELETE', url: '/api/devices/ghost' })
  t.equal(unknown.statusCode, 404)
  t.same(calls, ['dev-x', 'retained-only', 'ghost'])
})

t.test('http.token guards /api/* (missing or wrong -> 401) while /metrics, /healthz and /readyz stay open', async (t) => {
  const broker = await startBroker(t, { http: { token: TOKEN } }, { plugins: plugins() })
  const cases: Array<[string, Record<string, string>, number]> = [
    ['/api/devices', {}, 401],
    ['/api/devices', { authorization: `Bearer ${TOKEN.slice(1)}x` }, 401],
    ['/api/devices', { authorization: `Bearer ${TOKEN}x` }, 401],
    ['/api/devices', { authorization: TOKEN }, 401],
    ['/api/openapi.json', {}, 401],
    ['/api/devices', { authorization: `Bearer ${TOKEN}` }, 200],
    ['/metrics', {}, 200],
    ['/healthz', {}, 200],
    ['/readyz', {}, 200]
  ]
  for (const [url, headers, status] of cases) {
    const res = await broker.http.inject({ url, headers })
    t.equal(res.statusCode, status, `${url} ${headers.authorization === undefined ? 'without token' : 'with ' + (status === 200 ? 'the token' : 'a wrong token')} -> ${status}`)
    if (status === 401) t.match(res.json(), { error: 'unauthorized', message: String })
  }
  const post = await broker.http.inject({ method: 'POST', url: '/api/devices/x/commands', payload: { command: 'x' } })
  t.equal(post.statusCode, 401, 'commands need the token too')
})

t.test('GET /api/openapi.json describes every route, and every described route answers', async (t) => {
  const broker = await startBroker(t, {}, { plugins: plugins() })
  const res = await broker.http.inject({ url: '/api/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as { openapi: string, info: { version: string }, paths: Record<string, Record<string, unknown>> }
  t.equal(doc.openapi, '3.1.0')
  t.match(doc.info.version, /^\d+\.\d+\.\d+/)
  const expected = ['/healthz', '/readyz', '/metrics', '/api/openapi.json', '/api/devices', '/api/devices/{clientId}',
    '/api/devices/{clientId}/commands', '/api/devices/{clientId}/commands/{id}', '/api/events',
    '/api/devices/{clientId}/history', '/api/fleet']
  t.same(Object.keys(doc.paths).sort(), expected.sort())
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item).filter((m) => ['get', 'post', 'delete'].includes(m))) {
      const url = path.replace('{clientId}', 'dev-1').replace('{id}', '5a0c9b8e-8f5e-4c1a-9f57-0c2f0e3b7a11')
      t.ok(broker.http.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method.toUpperCase()} ${url} is served`)
    }
  }
})

/** Open an SSE stream over real HTTP; collects the raw text. */
function openEvents (url: string): Promise<{ res: IncomingMessage, text: () => string, close: () => void, ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      const ended = new Promise<void>((done) => { res.once('end', done); res.once('close', done) })
      resolve({ res, text: () => text, close: () => req.destroy(), ended })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('GET /api/events streams one liveness event per transition, with heartbeats; closing cleans up', async (t) => {
  const fleet: Partial<ConnectedFleet> = {}
  const broker = await startBroker(t, {}, { plugins: plugins(fleet) })
  const stream = await openEvents(`${broker.httpUrl}/api/events`)
  t.equal(stream.res.statusCode, 200)
  t.match(stream.res.headers['content-type'], /^text\/event-stream/)
  t.equal(fleet.listeners!(), 1)
  const device = await connectClient(t, broker.url, { clientId: 'sse-dev' })
  await device.endAsync()
  const events = (): Array<{ clientId: string, state: string }> => [...stream.text().matchAll(/event: liveness\ndata: (.*)\n\n/g)]
    .map((m) => JSON.parse(m[1]!))
  await waitFor(() => events().length >= 2, 3000, 'two liveness events')
  t.same(events().map((e) => [e.clientId, e.state]), [['sse-dev', 'online'], ['sse-dev', 'offline']], 'one event per transition')
  await waitFor(() => stream.text().includes(': heartbeat\n\n'), 2000, 'a heartbeat comment')
  stream.close()
  await waitFor(() => fleet.listeners!() === 0, 2000, 'the stream unsubscribed')
  t.pass('closing the stream unsubscribes it')
})

t.test('an open event stream does not hold the broker open at shutdown', async (t) => {
  const vigil = createVigil(testConfig(), { plugins: plugins() })
  await vigil.start()
  const stream = await openEvents(`http://127.0.0.1:${vigil.ports.http}/api/events`)
  const started = Date.now()
  await vigil.close()
  await stream.ended
  t.ok(Date.now() - started < 5000, 'closed promptly, stream ended')
})

t.test('DELETE /api/devices/{id} with the retained plugin decommissions: kicked, status and retained cleared, forgotten', async (t) => {
  const broker = await startBroker(t, {}, { plugins: defaultPlugins })
  const device = await connectClient(t, broker.url, { clientId: 'dev-del' })
  await device.publishAsync('devices/dev-del/status', '{"state":"online"}', { qos: 1, retain: true })
  await waitFor(() => broker.services.need('liveness').get('dev-del'), 2000, 'dev-del known')
  const closedP = new Promise<void>((resolve) => device.once('close', () => resolve()))
  const res = await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-del' })
  t.equal(res.statusCode, 204)
  await closedP
  t.pass('the device was disconnected')
  t.equal((await broker.http.inject({ url: '/api/devices/dev-del' })).statusCode, 404, 'forgotten by the API')
  const late = await connectClient(t, broker.url, { clientId: 'late-reader' })
  const seen: string[] = []
  const received = collect(late)
  late.on('message', (topic, payload) => { if (payload.length > 0 && !topic.startsWith('$vigil-test/')) seen.push(topic) })
  await late.subscribeAsync(['devices/dev-del/#', '$liveness/dev-del'], { qos: 1 })
  await retainedBarrier(broker, late, received)
  t.same(seen, [], 'no retained status or device message is left')
  t.equal((await broker.http.inject({ method: 'DELETE', url: '/api/devices/never-seen' })).statusCode, 404)
})
