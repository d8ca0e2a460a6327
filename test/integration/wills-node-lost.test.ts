/**
 * A node dies (SIGKILL) with 50 clients holding wills; two other nodes share its
 * Redis. Every will must arrive exactly once, within 30 s, stamped node_lost
 * with the dead node's last heartbeat (docs/topics-and-payloads.md#wills).
 *
 * The victim runs as a child process from dist/ (`npx tsc -p tsconfig.json`
 * first), configured by VIGIL_* env; the survivors run in this process with the
 * production broker heartbeat (BROKER_HEARTBEAT_MS).
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { sysReadableAcl } from '../helpers/auth.js'
import { publishFromBroker, startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { startVigilProcess, VIGIL_MAIN } from '../helpers/vigil-process.js'
import { metricValue } from '../support/prom-text.js'
import { JSON_WILL, parse, watch } from './wills-helpers.js'
import { freePort } from '../support/ports.js'

const CLIENTS = 50

t.test('a killed node\'s 50 wills arrive exactly once within 30 s, reason node_lost, on the surviving nodes', { timeout: 120_000 }, async (t) => {
  if (!existsSync(VIGIL_MAIN)) t.fail(`${VIGIL_MAIN} is missing: build with npx tsc -p tsconfig.json`)
  const redis = await startRedis(t)
  // The node that recovers a will stamps it: every node has the same wills config.
  // The watcher reads the victim's heartbeats: $SYS needs an ACL grant for anonymous clients.
  const acl = sysReadableAcl(t)
  const b = await startBroker(t, { persistence: { redis: redis.url }, wills: { tsUnit: 'ms' }, auth: { aclFile: acl } })
  const c = await startBroker(t, { persistence: { redis: redis.url }, wills: { tsUnit: 'ms' }, auth: { aclFile: acl } })
  const port = await freePort()
  const { child: victim, url } = await startVigilProcess(t, {
    VIGIL_NODE_ID: 'victim',
    VIGIL_PERSISTENCE_REDIS: redis.url,
    VIGIL_MQTT_PORT: String(port),
    VIGIL_MQTT_WS_PORT: String(await freePort()),
    VIGIL_HTTP_PORT: String(await freePort()),
    VIGIL_WILLS_TS_UNIT: 'ms',
    VIGIL_LOG_LEVEL: 'warn'
  })
  const wb = await watch(t, b.url, ['devices/+/status', '$SYS/victim/heartbeat'])
  const wc = await watch(t, c.url, 'devices/+/status')
  for (let i = 0; i < CLIENTS; i++) {
    await connectClient(t, url, {
      clientId: `nl-${i}`,
      will: { topic: `devices/nl-${i}/status`, payload: Buffer.from(JSON_WILL), qos: 1, retain: true }
    })
  }
  // Heartbeats (as this test sees them) tell the time of death the wills must carry.
  await waitFor(() => wb.received.some((m) => m.topic === '$SYS/victim/heartbeat'), 10_000, 'a heartbeat of the victim')
  // Killed right after a heartbeat that follows every CONNECT: that beat is the time of death the wills must carry.
  const beatsBefore = wb.received.filter((m) => m.topic === '$SYS/victim/heartbeat').length
  await waitFor(() => wb.received.filter((m) => m.topic === '$SYS/victim/heartbeat').length > beatsBefore, 10_000, 'the next heartbeat')
  victim.kill('SIGKILL')
  const killedAt = Date.now()
  const beats = wb.received.filter((m) => m.topic === '$SYS/victim/heartbeat')
  const lastBeat = beats[beats.length - 1]!.at

  const wills = (w: typeof wb) => w.received.filter((m) => m.topic.startsWith('devices/nl-') && !m.retain)
  await waitFor(() => wills(wb).length >= CLIENTS && wills(wc).length >= CLIENTS, 35_000, `${CLIENTS} wills at both survivors`)
    .catch((err: Error) => {
      throw new Error(`${err.message}: node b got ${wills(wb).length}, node c ${wills(wc).length} ` +
        `(all messages: ${wb.received.length}, ${wc.received.length}; connected: ${String(wb.client.connected)}, ${String(wc.client.connected)})`)
    })
  const lastArrival = Math.max(...wills(wb).map((m) => m.at), ...wills(wc).map((m) => m.at))
  t.comment(`node_lost recovery: last will ${lastArrival - killedAt} ms after SIGKILL, ${lastArrival - lastBeat} ms after the last heartbeat`)
  t.ok(lastArrival - killedAt <= 30_000, `every will within 30 s of the kill (${lastArrival - killedAt} ms)`)
  // Nothing is left to claim once the victim's wills are gone from Redis; then a barrier through each survivor
  // comes after anything a duplicate claim would have published there.
  const db = redis.client()
  await waitFor(async () => (await db.keys('will:victim:*')).length === 0, 10_000, 'every will of the victim claimed')
  for (const node of [b, c]) await publishFromBroker(node, `devices/barrier-${node.nodeId}/status`, 'barrier')
  await waitFor(() => [wb, wc].every((w) => w.received.filter((m) => m.topic.startsWith('devices/barrier-')).length === 2), 10_000, 'the barriers')
  for (const [name, w] of [['node b', wb], ['node c', wc]] as const) {
    const got = wills(w)
    t.equal(got.length, CLIENTS, `${name}: exactly ${CLIENTS} wills`)
    t.equal(new Set(got.map((m) => m.topic)).size, CLIENTS, `${name}: one per client`)
    const payloads = got.map((m) => parse(m.payload))
    t.ok(payloads.every((p) => p.reason === 'node_lost'), `${name}: reason node_lost`)
    t.ok(payloads.every((p) => p.state === 'offline' && p.x === 1), `${name}: other fields unchanged`)
    const offBy = Math.max(...payloads.map((p) => Math.abs((p.ts as number) - lastBeat)))
    t.ok(offBy <= 1000, `${name}: ts within 1 s of the last heartbeat (off by ${offBy} ms at most)`)
    t.ok(payloads.every((p) => typeof p.last_seen === 'number' && p.last_seen <= (p.ts as number)), `${name}: last_seen, no later than the death`)
  }
  const published = await metricValue(b.metrics, 'vigil_wills_published_total', { reason: 'node_lost' }) +
    await metricValue(c.metrics, 'vigil_wills_published_total', { reason: 'node_lost' })
  t.equal(published, CLIENTS, 'published once cluster-wide')
})
