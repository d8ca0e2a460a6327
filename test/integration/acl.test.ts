import t from 'tap'
import type { MqttClient } from 'mqtt'
import { startBroker } from '../helpers/broker.js'
import { aclFile, connackCode, grantedQos, passwordFile } from '../helpers/auth.js'
import { collect, connectClient, subscribe, waitFor, type Received } from '../helpers/clients.js'
import { mosquittoAvailable, startMosquittoWith } from '../helpers/mosquitto-auth.js'
import type { Teardown } from '../support/teardown.js'
import { metricValue } from '../support/prom-text.js'

const skip = !mosquittoAvailable()

/** Every rule kind Mosquitto's acl_file has. */
const ACL = `# anonymous clients (before the first user line)
topic read public/#
topic write anon/in

user dashboard
topic read devices/#
topic read $SYS/#

user alice
topic readwrite devices/#
topic deny devices/secret/#
topic alice/only
topic write public/#
topic write down/#

user bob
topic read devices/bob/#
topic write devices/bob/up
topic deny devices/bob/private

pattern readwrite own/%c/#
pattern write up/%u
pattern read down/%u/#
pattern readwrite barrier/#
`

const USERS = { dashboard: 'd', alice: 'a', bob: 'b' }
interface Who { clientId: string, username?: string, password?: string }
const CLIENTS: Who[] = [
  { clientId: 'anon-1' },
  { clientId: 'dash-1', username: 'dashboard', password: 'd' },
  { clientId: 'alice-1', username: 'alice', password: 'a' },
  { clientId: 'bob-1', username: 'bob', password: 'b' }
]
const FILTERS = ['public/#', 'devices/#', 'devices/bob/#', 'devices/+/up', 'alice/only', 'own/#', 'up/#', 'down/#', 'anon/#', '#']
const TOPICS = ['public/news', 'devices/bob/up', 'devices/bob/private', 'devices/alice/x', 'devices/secret/key', 'alice/only',
  'own/anon-1/x', 'own/alice-1/x', 'own/bob-1/x', 'up/alice', 'up/bob', 'up/', 'down/bob/cmd', 'down/alice/cmd', 'anon/in']

/** Who receives what, on a broker: every client subscribes to every filter, then publishes every topic, then a barrier. */
async function outcomes (t: Teardown & { ok(v: unknown, m: string): unknown }, url: string): Promise<Record<string, string[]>> {
  const clients: Array<{ who: Who, client: MqttClient, got: Received[] }> = []
  for (const who of CLIENTS) {
    const client = await connectClient(t, url, { clientId: who.clientId, username: who.username, password: who.password })
    const got = collect(client)
    for (const filter of FILTERS) await grantedQos(client, filter, 1)
    await subscribe(client, 'barrier/#', 1)
    clients.push({ who, client, got })
  }
  for (const { who, client } of clients) {
    for (const topic of TOPICS) await client.publishAsync(topic, `${who.clientId}>${topic}`, { qos: 1 })
    await client.publishAsync(`barrier/${who.clientId}`, 'end', { qos: 1 })
  }
  const out: Record<string, string[]> = {}
  for (const { who, got } of clients) {
    await waitFor(() => CLIENTS.every((c) => got.some((m) => m.topic === `barrier/${c.clientId}`)), 5000, `barriers at ${who.clientId}`)
    out[who.clientId] = [...new Set(got.filter((m) => !m.topic.startsWith('barrier/')).map((m) => m.payload.toString()))].sort()
  }
  for (const { client } of clients) t.ok(client.connected, 'denied QoS 1 publishes are acked; nobody is disconnected')
  return out
}

t.test('the same password and ACL files give the same deliveries in Vigil and in Mosquitto, for every rule kind', { skip }, async (t) => {
  const pw = passwordFile(t, USERS)
  const acl = aclFile(t, ACL)
  const vigil = await startBroker(t, { auth: { passwordFile: pw, aclFile: acl, allowAnonymous: true } })
  const mosquitto = await startMosquittoWith(t, ['allow_anonymous true', `password_file ${pw}`, `acl_file ${acl}`], { username: 'alice', password: 'a' })
  const fromVigil = await outcomes(t, vigil.url)
  const fromMosquitto = await outcomes(t, mosquitto.url)
  t.same(fromVigil, fromMosquitto, 'identical outcomes')
  // The rules, spelled out (so a shared mistake could not pass).
  t.ok(fromVigil['anon-1']!.includes('alice-1>public/news'), 'anonymous block: read public/#')
  t.notOk(fromVigil['anon-1']!.some((m) => m.endsWith('>devices/bob/up')), 'anonymous reads nothing of devices/')
  t.ok(fromVigil['dash-1']!.includes('alice-1>devices/alice/x'))
  t.notOk(fromVigil['dash-1']!.some((m) => m.endsWith('>devices/secret/key')), 'alice may not write under a deny')
  t.ok(fromVigil['bob-1']!.includes('bob-1>devices/bob/up'), 'write + read grants')
  t.notOk(fromVigil['bob-1']!.some((m) => m.endsWith('>devices/bob/private')), 'deny wins over read')
  t.ok(fromVigil['bob-1']!.includes('alice-1>down/bob/cmd'), '%u read pattern')
  t.notOk(fromVigil['bob-1']!.some((m) => m.endsWith('>down/alice/cmd')))
  t.ok(fromVigil['alice-1']!.includes('alice-1>own/alice-1/x'), '%c pattern, own id only')
  t.notOk(fromVigil['alice-1']!.some((m) => m.startsWith('bob-1>own/')))
  t.equal(await metricValue(vigil.metrics, 'vigil_acl_denied_total', { action: 'publish' }),
    CLIENTS.length * TOPICS.length - countWrites(), 'every denied publish counted')
})

/** Writes the ACL allows over TOPICS, by client (the publishes the metric must leave out). */
function countWrites (): number {
  const allowed: Record<string, string[]> = {
    'anon-1': ['anon/in', 'own/anon-1/x'],
    'dash-1': [],
    'alice-1': ['public/news', 'devices/bob/up', 'devices/bob/private', 'devices/alice/x', 'alice/only', 'own/alice-1/x', 'up/alice',
      'down/bob/cmd', 'down/alice/cmd'],
    'bob-1': ['devices/bob/up', 'own/bob-1/x', 'up/bob']
  }
  return Object.values(allowed).reduce((n, list) => n + list.length, 0)
}

t.test('SUBACK 0x80 for a filter no read grant can match; partly covered filters are granted and filtered per delivery', { skip }, async (t) => {
  const pw = passwordFile(t, USERS)
  const broker = await startBroker(t, { auth: { passwordFile: pw, aclFile: aclFile(t, ACL) } })
  const bob = await connectClient(t, broker.url, { clientId: 'bob-1', username: 'bob', password: 'b' })
  t.equal(await grantedQos(bob, 'public/#'), 128)
  t.equal(await grantedQos(bob, 'devices/bob/#'), 1)
  t.equal(await grantedQos(bob, 'devices/+/up'), 1, 'partly covered')
  t.equal(await grantedQos(bob, '$SYS/#'), 128, '$SYS only where the ACL grants it')
  t.equal(await grantedQos(bob, '$liveness/#'), 1, 'the status space is readable whatever the ACL')
  const dash = await connectClient(t, broker.url, { clientId: 'dash-1', username: 'dashboard', password: 'd' })
  t.equal(await grantedQos(dash, '$SYS/#'), 0 + 1, 'granted where the ACL says so')
  const text = await broker.metrics.getSingleMetricAsString('vigil_acl_denied_total')
  t.match(text, /action="subscribe"\} 2/)
})

t.test('a denied retained PUBLISH is acked and not stored; a will on a topic the ACL denies is refused (CONNACK 5)', { skip }, async (t) => {
  const pw = passwordFile(t, USERS)
  const broker = await startBroker(t, { auth: { passwordFile: pw, aclFile: aclFile(t, ACL) } })
  const alice = await connectClient(t, broker.url, { clientId: 'alice-1', username: 'alice', password: 'a' })
  await alice.publishAsync('devices/secret/key', 'hidden', { qos: 1, retain: true })
  await alice.publishAsync('devices/alice/x', 'kept', { qos: 1, retain: true })
  const dash = await connectClient(t, broker.url, { clientId: 'dash-1', username: 'dashboard', password: 'd' })
  const got = collect(dash)
  await subscribe(dash, 'devices/#', 1)
  await waitFor(() => got.find((m) => m.topic === 'devices/alice/x'), 3000, 'the allowed retained message')
  t.notOk(got.find((m) => m.topic === 'devices/secret/key'), 'the denied one was never stored')
  t.equal(await connackCode(broker.url, {
    clientId: 'bob-1', username: 'bob', password: 'b',
    will: { topic: 'devices/alice/status', payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  }), 5, 'no will on another device\'s status topic')
  t.equal(await connackCode(broker.url, {
    clientId: 'bob-1', username: 'bob', password: 'b',
    will: { topic: 'devices/bob/up', payload: Buffer.from('bye'), qos: 1, retain: false }
  }), 0, 'a will on a topic the client may write is fine')
})

t.test('the own command-ack topic is writable whatever the ACL says; another device\'s is not', { skip }, async (t) => {
  const pw = passwordFile(t, USERS)
  const broker = await startBroker(t, { auth: { passwordFile: pw, aclFile: aclFile(t, 'user bob\ntopic read devices/bob/#\n') } })
  const bob = await connectClient(t, broker.url, { clientId: 'bob', username: 'bob', password: 'b' })
  await subscribe(bob, 'devices/bob/commands', 1)
  bob.on('message', (topic, payload) => {
    if (topic !== 'devices/bob/commands') return
    const { id } = JSON.parse(payload.toString()) as { id: string }
    bob.publish('devices/bob/commands/ack', JSON.stringify({ id, status: 'ok', result: 'done' }), { qos: 1 })
  })
  const res = await broker.http.inject({ method: 'POST', url: '/api/devices/bob/commands', payload: { command: 'unlock' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'acked')
})

t.test('broker-owned rules hold whatever the ACL grants: no client writes $liveness/, nobody else\'s ack completes a command', { skip }, async (t) => {
  const pw = passwordFile(t, USERS)
  const acl = aclFile(t, 'user alice\ntopic readwrite #\ntopic readwrite $liveness/#\nuser bob\ntopic readwrite devices/bob/#\n')
  const broker = await startBroker(t, { auth: { passwordFile: pw, aclFile: acl } })
  const bob = await connectClient(t, broker.url, { clientId: 'bob', username: 'bob', password: 'b' })
  await subscribe(bob, 'devices/bob/commands', 1)
  const watcher = await connectClient(t, broker.url, { clientId: 'watch', username: 'alice', password: 'a' })
  const seen = collect(watcher)
  await subscribe(watcher, '$liveness/#', 1)
  const thief = await connectClient(t, broker.url, { clientId: 'alice', username: 'alice', password: 'a' })
  thief.on('error', () => {})
  // The thief answers the victim's command the moment it is sent.
  await subscribe(thief, 'devices/bob/commands', 1)
  thief.on('message', (_topic, payload) => {
    const { id } = JSON.parse(payload.toString()) as { id: string }
    thief.publish('devices/bob/commands/ack', JSON.stringify({ id, status: 'ok', result: 'opened' }), { qos: 1 })
  })
  const res = await broker.http.inject({ method: 'POST', url: '/api/devices/bob/commands', payload: { command: 'unlock-door', timeout: '1s', retries: 0 } })
  t.equal(res.statusCode, 504, 'the thief\'s ack did not complete bob\'s command')
  const forger = await connectClient(t, broker.url, { clientId: 'forger', username: 'alice', password: 'a' })
  forger.on('error', () => {})
  forger.publish('$liveness/bob', JSON.stringify({ clientId: 'bob', state: 'offline' }), { qos: 1, retain: true })
  await waitFor(() => !forger.connected, 3000, 'the forger disconnected')
  await bob.publishAsync('devices/bob/heartbeat', '{}', { qos: 1 })
  t.equal(broker.services.need('liveness').get('bob')?.state, 'online', 'the forged status changed nothing')
  // Barrier through the same path: a new client's status is published on $liveness/ after the forgery.
  await connectClient(t, broker.url, { clientId: 'barrier', username: 'bob', password: 'b' })
  await waitFor(() => seen.find((m) => m.topic === '$liveness/barrier'), 3000, 'the barrier status')
  t.notOk(seen.some((m) => m.topic === '$liveness/bob' && m.payload.toString().includes('"offline"')), 'and reached nobody')
})
