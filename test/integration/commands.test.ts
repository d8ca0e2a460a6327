import t from 'tap'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { defaultPlugins } from '../../plugins/index.js'
import { commandsPlugin } from '../../plugins/commands/index.js'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { closed, collect, connectClient, waitFor } from '../helpers/clients.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'
import { connectedFleetPlugin, type ConnectedFleet } from '../support/connected-fleet.js'
import { simDevice } from '../support/device.js'
import { parsePrometheusText } from '../support/prom-text.js'

async function commandBroker (t: Parameters<typeof startBroker>[0], fleet: Partial<ConnectedFleet> = {}, extra = {}, shared?: Map<string, ClientStatus>) {
  return await startBroker(t, { commands: { timeout: '300ms', retries: 1 }, ...extra },
    { plugins: [connectedFleetPlugin(fleet, shared), commandsPlugin, metricsPlugin] })
}

async function post (broker: TestBroker, clientId: string, body: unknown) {
  const started = Date.now()
  const res = await broker.http.inject({ method: 'POST', url: `/api/devices/${encodeURIComponent(clientId)}/commands`, payload: body as object })
  return { status: res.statusCode, body: res.json(), elapsed: Date.now() - started }
}

async function outcomes (broker: TestBroker): Promise<Record<string, number | undefined>> {
  const scrape = parsePrometheusText(await broker.metrics.metrics())
  return Object.fromEntries(['acked', 'failed', 'timeout', 'rejected_offline'].map((o) => [o, scrape.value('vigil_commands_total', { outcome: o })]))
}

t.test('a device that acks gets 200 acked with its result and latency; the record is served afterwards', async (t) => {
  const broker = await commandBroker(t)
  t.same(await outcomes(broker), { acked: 0, failed: 0, timeout: 0, rejected_offline: 0 }, 'every outcome exists at 0 from start-up')
  const device = await simDevice(t, broker.url, 'dev-ack', () => [{ status: 'ok', result: { rebooted: true } }])
  const sentAt = Date.now()
  const reply = await post(broker, 'dev-ack', { command: 'reboot', args: { delay: 1 } })
  const roundTrip = Date.now() - sentAt
  t.equal(reply.status, 200)
  t.match(reply.body, { status: 'acked', result: { rebooted: true }, attempts: 1 })
  t.type(reply.body.latencyMs, 'number')
  // Inside the HTTP request's own round trip (a bound that holds on a loaded machine).
  t.ok(reply.body.latencyMs >= 0 && reply.body.latencyMs <= roundTrip, `latency is measured from send to ack (${reply.body.latencyMs} ms of a ${roundTrip} ms request)`)
  t.equal(reply.body.silent, undefined, 'an online device is not marked silent')
  t.equal(device.commands.length, 1)
  t.match(device.commands[0], { id: reply.body.id, command: 'reboot', args: { delay: 1 } })
  t.type(device.commands[0]!.ts, 'number')
  const record = await broker.http.inject({ method: 'GET', url: `/api/devices/dev-ack/commands/${reply.body.id}` })
  t.equal(record.statusCode, 200)
  t.same(record.json(), reply.body, 'GET returns the same record')
  const other = await broker.http.inject({ method: 'GET', url: `/api/devices/dev-other/commands/${reply.body.id}` })
  t.equal(other.statusCode, 404, 'a record belongs to its device')
  t.match(await outcomes(broker), { acked: 1, failed: 0, timeout: 0 })
  const scrape = parsePrometheusText(await broker.metrics.metrics())
  t.equal(scrape.value('vigil_command_ack_seconds_count'), 1)
})

t.test('an error ack -> 200 failed; a duplicate ack is ignored', async (t) => {
  const broker = await commandBroker(t)
  await simDevice(t, broker.url, 'dev-err', () => [{ status: 'error', result: 'E_BUSY' }, { status: 'ok', result: 'second' }])
  // The second ack goes through the broker like the first: once a subscriber has it, the broker handled it.
  const acks = await connectClient(t, broker.url, { clientId: 'ack-watcher' })
  const seenAcks = collect(acks)
  await acks.subscribeAsync('devices/dev-err/commands/ack', { qos: 1 })
  const reply = await post(broker, 'dev-err', { command: 'update' })
  t.equal(reply.status, 200)
  t.match(reply.body, { status: 'failed', result: 'E_BUSY', attempts: 1 })
  await waitFor(() => seenAcks.length >= 2, 10_000, 'the duplicate ack through the broker')
  const record = await broker.http.inject({ method: 'GET', url: `/api/devices/dev-err/commands/${reply.body.id}` })
  t.match(record.json(), { status: 'failed', result: 'E_BUSY' }, 'the second ack changed nothing')
  t.match(await outcomes(broker), { acked: 0, failed: 1 })
})

t.test('no ack -> 504 after timeout x (retries + 1), the same id sent each time', async (t) => {
  const broker = await commandBroker(t)
  const device = await simDevice(t, broker.url, 'dev-mute', () => null)
  const reply = await post(broker, 'dev-mute', { command: 'reboot', timeout: '250ms', retries: 2 })
  t.equal(reply.status, 504)
  t.same(reply.body, { id: reply.body.id, status: 'timeout', attempts: 3 })
  t.ok(reply.elapsed >= 3 * 250 - 20, `waited every attempt (${reply.elapsed} ms)`)
  t.ok(reply.elapsed < 3 * 250 + 1000, 'and not much longer')
  await waitFor(() => device.commands.length >= 3, 2000, 'three sends')
  t.same(new Set(device.commands.map((c) => c.id)), new Set([reply.body.id]), 'every attempt carries the same id')
  t.equal(device.commands.length, 3)
  const record = await broker.http.inject({ method: 'GET', url: `/api/devices/dev-mute/commands/${reply.body.id}` })
  t.same(record.json(), reply.body)
  t.match(await outcomes(broker), { timeout: 1 })
})

t.test('a device that answers only the retry is acked on attempt 2', async (t) => {
  const broker = await commandBroker(t)
  await simDevice(t, broker.url, 'dev-late', (_c, n) => n === 2 ? [{ status: 'ok', result: 'late' }] : null)
  const reply = await post(broker, 'dev-late', { command: 'ping', timeout: 0.2, retries: 3 })
  t.equal(reply.status, 200)
  t.match(reply.body, { status: 'acked', attempts: 2, result: 'late' })
  t.ok(reply.body.latencyMs >= 190, 'latency counts from the first send')
})

t.test('offline or unknown device -> 409 at once; a silent one is sent the command and the reply says so', async (t) => {
  const fleet: Partial<ConnectedFleet> = {}
  const broker = await commandBroker(t, fleet)
  const unknown = await post(broker, 'nobody', { command: 'reboot' })
  t.equal(unknown.status, 409)
  t.equal(unknown.body.error, 'device_offline')
  const gone = await connectClient(t, broker.url, { clientId: 'dev-gone' })
  await gone.endAsync()
  await waitFor(() => broker.services.need('liveness').get('dev-gone')?.state === 'offline', 2000, 'offline')
  const offline = await post(broker, 'dev-gone', { command: 'reboot' })
  t.equal(offline.status, 409)
  t.match(offline.body, { error: 'device_offline', message: /offline/ })
  t.ok(offline.elapsed < 250, 'at once, without waiting for a timeout')
  t.match(await outcomes(broker), { rejected_offline: 2 })

  await simDevice(t, broker.url, 'dev-quiet', () => [{ status: 'ok', result: null }])
  fleet.markSilent!('dev-quiet')
  const silent = await post(broker, 'dev-quiet', { command: 'wake' })
  t.equal(silent.status, 200)
  t.match(silent.body, { status: 'acked', silent: true, result: null })
})

t.test('a device may not ack on another device\'s ack topic: refused, and the command is not settled', async (t) => {
  const broker = await commandBroker(t)
  const victim = await simDevice(t, broker.url, 'dev-v', () => null)
  const spoofer = await connectClient(t, broker.url, { clientId: 'dev-s' })
  const replyP = post(broker, 'dev-v', { command: 'unlock', timeout: '400ms', retries: 0 })
  await waitFor(() => victim.commands[0], 2000, 'the command')
  const gone = closed((spoofer as unknown as { stream: import('node:net').Socket }).stream)
  spoofer.publish('devices/dev-v/commands/ack', JSON.stringify({ id: victim.commands[0]!.id, status: 'ok', result: 'spoof' }), { qos: 1 })
  await gone
  t.pass('the spoofing client was disconnected (MQTT 3.1.1 has no negative PUBACK)')
  const reply = await replyP
  t.equal(reply.status, 504, 'the spoofed ack did not count')
})

t.test('bad command requests are 4xx, never 500, and the broker keeps serving', async (t) => {
  const broker = await commandBroker(t)
  await simDevice(t, broker.url, 'dev-ok', () => [{ status: 'ok', result: 1 }])
  const inject = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }, url = '/api/devices/dev-ok/commands') =>
    broker.http.inject({ method: 'POST', url, payload, headers })
  const cases: Array<[string, Awaited<ReturnType<typeof inject>>, number, string]> = [
    ['bad JSON', await inject('{"command":'), 400, 'bad_json'],
    ['empty body', await inject(''), 400, 'bad_json'],
    ['not an object', await inject('[1,2]'), 400, 'bad_request'],
    ['unknown field', await inject('{"command":"x","colour":"red"}'), 400, 'unknown_field'],
    ['bad duration', await inject('{"command":"x","timeout":"soon"}'), 400, 'bad_duration'],
    ['bad retries', await inject('{"command":"x","retries":99}'), 400, 'bad_retries'],
    ['missing command', await inject('{"args":{}}'), 400, 'bad_command'],
    ['huge body', await inject(JSON.stringify({ command: 'x', args: { blob: 'a'.repeat(70 * 1024) } })), 413, 'body_too_large'],
    ['form body', await inject('command=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type'],
    ['text body', await inject('reboot', { 'content-type': 'text/plain' }), 400, 'bad_request'],
    ['proto poisoning', await inject('{"command":"x","__proto__":{"a":1}}'), 400, 'bad_json'],
    ['unaddressable id', await inject('{"command":"x"}', undefined, '/api/devices/a%2Fb/commands'), 400, 'bad_client_id'],
    ['unknown query parameter', await inject('{"command":"x"}', undefined, '/api/devices/dev-ok/commands?wait=1'), 400, 'unknown_field']
  ]
  for (const [what, res, status, code] of cases) {
    t.equal(res.statusCode, status, `${what} -> ${status}`)
    t.match(res.json(), { error: code, message: String }, `${what} -> {error: ${code}, message}`)
  }
  const badId = await broker.http.inject({ method: 'GET', url: '/api/devices/dev-ok/commands/not-a-uuid' })
  t.equal(badId.statusCode, 400)
  const missing = await broker.http.inject({ method: 'GET', url: '/api/devices/dev-ok/commands/5a0c9b8e-8f5e-4c1a-9f57-0c2f0e3b7a11' })
  t.equal(missing.statusCode, 404)
  const ok = await post(broker, 'dev-ok', { command: 'still-works' })
  t.equal(ok.status, 200, 'the broker still serves')
})

t.test('Redis mode: the request on node A, the device on node B, the ack still matches', { skip: !redisAvailable() && 'redis-server not on PATH' }, async (t) => {
  const redis = await startRedis(t)
  // The real liveness plugin: node A learns of B's device from its retained status.
  const config = { persistence: { redis: redis.url }, commands: { timeout: '3s', retries: 0 } }
  const a = await startBroker(t, config, { plugins: defaultPlugins })
  const b = await startBroker(t, config, { plugins: defaultPlugins })
  const device = await simDevice(t, b.url, 'dev-b', () => [{ status: 'ok', result: 'from-b' }])
  await waitFor(() => a.services.need('liveness').get('dev-b')?.state === 'online', 3000, 'node A sees dev-b online')
  const reply = await post(a, 'dev-b', { command: 'reboot' })
  t.equal(reply.status, 200)
  t.match(reply.body, { status: 'acked', result: 'from-b', attempts: 1 })
  t.equal(device.commands.length, 1)
  const onB = await b.http.inject({ method: 'GET', url: `/api/devices/dev-b/commands/${reply.body.id}` })
  t.same(onB.json(), reply.body, 'the record is in Redis: node B serves it too')
  const ttl = await redis.client().pttl(`vigil:commands:dev-b:${reply.body.id}`)
  t.ok(ttl > 0, 'the record has a TTL')
  t.match(await outcomes(b), { acked: 0 }, 'only the node that sent it counts the outcome')
  t.match(await outcomes(a), { acked: 1 })
})
