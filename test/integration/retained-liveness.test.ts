import t from 'tap'
import type { MqttClient } from 'mqtt'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

import type { Teardown } from '../support/teardown.js'
import { retainedSeenBy, retainedSync } from '../support/retained.js'

/** A will makes a client a device from its CONNECT (without one it is an observer until it publishes). */
const will = (id: string) => ({ will: { topic: `devices/${id}/status`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1 as const, retain: false } })

/** Keep a client online: an application heartbeat every 150 ms until the test ends. */
function keepAlive (t: Teardown, client: MqttClient, topic: string): void {
  const timer = setInterval(() => { client.publish(topic, '{}') }, 150)
  t.teardown(() => clearInterval(timer))
}

// Every case has its own broker (and Redis) and mostly waits on forgetAfter and expiry sweeps: three at a time.
t.jobs = 3

t.test('the status of a client offline longer than forgetAfter is cleared; an online or silent client\'s never is', async (t) => {
  const broker = await startBroker(t, {
    liveness: { silentAfter: '500ms', forgetAfter: '1s' },
    retained: { sweepInterval: '200ms' }
  })
  const liveness = broker.services.need('liveness')
  const watcher = await connectClient(t, broker.url, { clientId: 'watcher' })
  const statuses = collect(watcher)
  await subscribe(watcher, '$liveness/#', 1)

  const online = await connectClient(t, broker.url, { clientId: 'stays-online' })
  keepAlive(t, online, 'devices/stays-online/heartbeat')
  await connectClient(t, broker.url, { clientId: 'goes-silent', ...will('goes-silent') })
  const leaving = await connectClient(t, broker.url, { clientId: 'goes-away', ...will('goes-away') })
  await leaving.endAsync()
  await waitFor(() => liveness.get('goes-away')?.state === 'offline', 2000, 'goes-away offline')
  const offlineAt = Date.now()

  await waitFor(() => statuses.find((m) => m.topic === '$liveness/goes-away' && m.payload.length === 0),
    1000 + 200 + 1000, 'the clear of the offline client\'s status within forgetAfter + sweepInterval + 1 s')
  t.ok(Date.now() - offlineAt >= 900, 'not cleared before forgetAfter')
  t.equal(liveness.get('goes-away'), undefined, 'the client left the fleet view')

  await waitFor(() => liveness.get('goes-silent')?.state === 'silent', 2000, 'goes-silent silent')
  // Barrier through the forgetting path: a client that goes offline after goes-silent went silent is
  // forgotten later than goes-silent would be if silence counted; its clear comes after any such clear.
  const barrier = await connectClient(t, broker.url, { clientId: 'forget-barrier', ...will('forget-barrier') })
  await barrier.endAsync()
  await waitFor(() => statuses.find((m) => m.topic === '$liveness/forget-barrier' && m.payload.length === 0), 10_000, 'the barrier\'s clear')
  const seen = await retainedSeenBy(t, broker, ['$liveness/#'])
  t.notOk(seen.has('$liveness/goes-away'), 'a fresh subscriber receives no status for the forgotten client')
  t.equal(JSON.parse(seen.get('$liveness/stays-online') ?? '{}').state, 'online', 'the online client\'s status stays')
  t.equal(JSON.parse(seen.get('$liveness/goes-silent') ?? '{}').state, 'silent', 'the silent client\'s status stays')
  t.notOk(statuses.find((m) => m.topic !== '$liveness/goes-away' && m.topic !== '$liveness/forget-barrier' && m.payload.length === 0), 'no other status was cleared')
  t.equal(liveness.get('stays-online')?.state, 'online', 'the online client is still in the fleet view')
})

t.test('an expire rule on status topics never clears a connected client\'s status, and clears an offline one', async (t) => {
  const broker = await startBroker(t, {
    liveness: { silentAfter: '500ms' },
    retained: { expire: [{ topic: '$liveness/+', maxAge: '1s' }], sweepInterval: '200ms' }
  })
  const liveness = broker.services.need('liveness')
  const watcher = await connectClient(t, broker.url, { clientId: 'rule-watcher' })
  const statuses = collect(watcher)
  await subscribe(watcher, '$liveness/#', 1)
  const online = await connectClient(t, broker.url, { clientId: 'rule-online' })
  keepAlive(t, online, 'devices/rule-online/heartbeat')
  await connectClient(t, broker.url, { clientId: 'rule-silent', ...will('rule-silent') })
  const leaving = await connectClient(t, broker.url, { clientId: 'rule-gone', ...will('rule-gone') })
  await leaving.endAsync()
  await waitFor(() => liveness.get('rule-silent')?.state === 'silent', 3000, 'rule-silent silent')
  // Barrier through the expiry path: a status stored after every status above expires after them all.
  const barrier = await connectClient(t, broker.url, { clientId: 'rule-barrier', ...will('rule-barrier') })
  await barrier.endAsync()
  await waitFor(() => statuses.find((m) => m.topic === '$liveness/rule-barrier' && m.payload.length === 0), 10_000, 'the barrier status expired')
  const seen = await retainedSeenBy(t, broker, ['$liveness/#'])
  t.ok(seen.has('$liveness/rule-online'), 'the online client\'s status is still retained')
  t.equal(JSON.parse(seen.get('$liveness/rule-silent') ?? '{}').state, 'silent', 'the silent client\'s status is still retained')
  t.notOk(seen.has('$liveness/rule-gone'), 'the offline client\'s status expired')
  t.equal(liveness.get('rule-gone'), undefined, 'and the client left the fleet view')
})

let watchers = 0
/** A live subscriber to a device's will topic; `landed()` resolves once the will (not a retained copy) has arrived. */
async function watchWill (t: Teardown, broker: TestBroker, id: string): Promise<{ landed(): Promise<unknown> }> {
  const client = await connectClient(t, broker.url, { clientId: `will-watcher-${process.pid}-${++watchers}` })
  const got = collect(client)
  await subscribe(client, `devices/${id}/status`, 1)
  return { landed: () => waitFor(() => got.find((m) => !m.retain && m.payload.toString().includes('offline')), 10_000, `the will of ${id}`) }
}

async function deviceWithRetained (t: Teardown, url: string, id: string): Promise<MqttClient> {
  const device = await connectClient(t, url, {
    clientId: id,
    will: { topic: `devices/${id}/status`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  })
  await device.publishAsync(`devices/${id}/status`, '{"state":"online","ts":0}', { qos: 1, retain: true })
  await device.publishAsync(`devices/${id}/telemetry`, '{"t":21}', { qos: 1, retain: true })
  await device.publishAsync(`devices/${id}/config/net`, '{"ssid":"x"}', { qos: 1, retain: true })
  return device
}

t.test('decommission closes the connection, clears the status and every retained message under devices/{id}/# (memory)', async (t) => {
  const broker = await startBroker(t)
  const liveness = broker.services.need('liveness')
  const device = await deviceWithRetained(t, broker.url, 'dev-9')
  const neighbour = await connectClient(t, broker.url, { clientId: 'dev-90' })
  await neighbour.publishAsync('devices/dev-90/status', 'online', { qos: 1, retain: true })
  await waitFor(() => liveness.get('dev-9')?.state === 'online', 2000, 'dev-9 online')
  const closed = new Promise<void>((resolve) => device.once('close', () => resolve()))
  const wills = await watchWill(t, broker, 'dev-9')

  const result = await broker.services.need('decommission').decommission('dev-9')
  t.same(result, { kicked: true, cleared: 4 }, 'kicked, and its 3 retained messages and its status cleared')
  await closed
  t.pass('the device\'s connection was closed')
  await wills.landed() // the kick's will (its offline status went out before decommission returned)
  const seen = await retainedSeenBy(t, broker, ['devices/#', '$liveness/#'])
  t.same([...seen.keys()].filter((topic) => topic.includes('dev-9/') || topic.endsWith('/dev-9')), [],
    'nothing of dev-9 is retained: not its status, not its will, not devices/dev-9/#')
  t.equal(seen.get('devices/dev-90/status'), 'online', 'a device whose id starts the same is untouched')
  t.ok(seen.has('$liveness/dev-90'), 'and so is its status')
  t.equal(liveness.get('dev-9'), undefined, 'the client left the fleet view')

  const again = await broker.services.need('decommission').decommission('dev-9')
  t.same(again, { kicked: false, cleared: 0 }, 'decommissioning it again finds nothing')
})

t.test('decommission in Redis mode kicks the client on another node and clears its retained messages cluster-wide', async (t) => {
  const redis = await startRedis(t)
  const config = { persistence: { redis: redis.url } }
  const a = await startBroker(t, config)
  const b = await startBroker(t, config)
  const device = await deviceWithRetained(t, a.url, 'dev-r')
  await waitFor(() => b.services.need('liveness').get('dev-r')?.state === 'online', 3000, 'node b to see dev-r online')
  const closed = new Promise<void>((resolve) => device.once('close', () => resolve()))
  const wills = await watchWill(t, a, 'dev-r')

  const result = await b.services.need('decommission').decommission('dev-r')
  t.same(result, { kicked: true, cleared: 4 }, 'kicked on node a, its 3 retained messages and status cleared')
  await closed
  t.pass('the device\'s connection on the other node was closed')
  await wills.landed()
  // Each node's retained index learns the other's changes through Redis, in order: a barrier from each side.
  await retainedSync(t, b, a)
  await retainedSync(t, a, b)
  for (const node of [a, b]) {
    const seen = await retainedSeenBy(t, node, ['devices/#', '$liveness/#'])
    t.same([...seen.keys()].filter((topic) => topic.includes('dev-r')), [], 'nothing of dev-r is retained')
    t.equal(node.services.need('liveness').get('dev-r'), undefined, 'the client left the fleet view')
  }
})

t.test('a decommissioned client\'s delayed will and offline status do not bring its retained messages back', async (t) => {
  const broker = await startBroker(t, { wills: { delay: '1s' } })
  const device = await deviceWithRetained(t, broker.url, 'dev-late')
  const watcher = await connectClient(t, broker.url, { clientId: 'late-watch' })
  const seenLive = collect(watcher)
  await subscribe(watcher, ['devices/dev-late/#', '$liveness/dev-late'], 1)
  await waitFor(() => broker.services.need('liveness').get('dev-late')?.state === 'online', 2000, 'dev-late online')
  const result = await broker.services.need('decommission').decommission('dev-late')
  t.same(result, { kicked: true, cleared: 4 }, 'kicked, 3 retained messages and the status cleared')
  t.ok(device.disconnected || device.disconnecting || !device.connected, 'the device is disconnected')
  // Past wills.delay: the held will and offline status go out together.
  await waitFor(() => seenLive.find((m) => m.topic === 'devices/dev-late/status' && !m.retain && m.payload.length > 0), 10_000, 'the delayed will')
  const seen = await retainedSeenBy(t, broker, ['devices/#', '$liveness/#'])
  t.same([...seen.keys()].filter((topic) => topic.includes('dev-late')), [], 'nothing of dev-late is retained after the delayed will')
  t.equal(broker.services.need('liveness').get('dev-late'), undefined, 'the client is not back in the fleet view')
  t.ok(seenLive.length > 0, 'live subscribers saw the clears')
})
