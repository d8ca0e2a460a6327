/**
 * Issue 11: a 3 s network cut between the brokers and Redis (a TCP proxy drops
 * every connection and refuses new ones; Redis keeps its data). Two nodes, 20
 * persistent QoS 1 subscribers on one, a publisher on the other: nothing
 * acknowledged is lost. A CONNECT during the cut gets CONNACK 3 at once, and
 * the nodes serve as before within 5 s of Redis answering again.
 */
import mqtt from 'mqtt'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { sleep } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { FAULT_LOAD, runLoad } from './redis-faults-helpers.js'
import { metricValue } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

/** One CONNECT; resolves with the CONNACK return code (or 'none') and how long it took. */
async function connackOf (url: string, clientId: string, within: number): Promise<{ code: number | 'none', ms: number }> {
  const started = Date.now()
  const client = mqtt.connect(url, { clientId, reconnectPeriod: 0, connectTimeout: within, protocolVersion: 4 })
  client.on('error', () => {})
  const code = await new Promise<number | 'none'>((resolve) => {
    client.once('packetreceive', (packet) => { if (packet.cmd === 'connack') resolve((packet as { returnCode?: number }).returnCode ?? 0) })
    client.once('close', () => resolve('none'))
  })
  client.end(true)
  return { code, ms: Date.now() - started }
}

// The two cuts share nothing (own Redis, proxy and brokers) and mostly wait: side by side.
t.jobs = 2

t.test('a 3 s cut between the nodes and Redis: nothing acknowledged is lost; a CONNECT during it gets CONNACK 3', { timeout: 90_000 }, async (t) => {
  const redis = await startRedis(t, { aof: true })
  const proxy = await startTcpProxy(t, redis.port)
  const a = await startBroker(t, { persistence: { redis: proxy.url } })
  const b = await startBroker(t, { persistence: { redis: proxy.url } })
  let duringCut: { code: number | 'none', ms: number } | null = null
  let readyWithin = -1
  const result = await runLoad(t, {
    publisherUrl: b.url,
    subscriberUrl: a.url,
    ...FAULT_LOAD,
    fault: async () => {
      await proxy.cut()
      const cutAt = Date.now()
      // The cut is noticed once /readyz says so (asserted below); then a CONNECT meets it.
      await eventually(async () => (await a.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 503, 5000)
      duringCut = await connackOf(a.url, 'connect-during-cut', 3000)
      const readyz = await a.http.inject({ method: 'GET', url: '/readyz' })
      t.equal(readyz.statusCode, 503, '/readyz says 503 during the cut')
      await sleep(Math.max(0, 3000 - (Date.now() - cutAt))) // the cut itself: 3 s in all
      await proxy.restore()
      const back = Date.now()
      await eventually(async () => (await a.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200 &&
        (await b.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 10_000)
      readyWithin = Date.now() - back
    }
  })
  t.comment(`proxy cut 3 s: ${result.acked} of 400 acknowledged, ${result.lost} acknowledged deliveries lost, ${result.duplicates} duplicates; ` +
    `CONNECT during the cut: CONNACK ${String(duringCut!.code)} in ${duringCut!.ms} ms; both nodes ready ${readyWithin} ms after the cut ended`)
  t.equal(duringCut!.code, 3, 'a CONNECT during the cut gets CONNACK 3')
  t.ok(duringCut!.ms < 1000, `at once (${duringCut!.ms} ms)`)
  t.ok(readyWithin >= 0 && readyWithin <= 5000, `both nodes ready again within 5 s (${readyWithin} ms)`)
  t.equal(result.acked, 400, 'every message acknowledged in the end')
  t.equal(result.lost, 0, `no acknowledged message is lost (first missing: ${result.sample.join(', ')})`)
  const after = await connackOf(a.url, 'connect-after-cut', 3000)
  t.equal(after.code, 0, 'a CONNECT after the cut is accepted')
})

t.test('a 2 s cut between the subscribers\' node and Redis only: its connected persistent subscribers still get everything the other node acknowledged meanwhile', { timeout: 90_000 }, async (t) => {
  const redis = await startRedis(t, { aof: true })
  const proxy = await startTcpProxy(t, redis.port)
  const a = await startBroker(t, { persistence: { redis: proxy.url } })
  const b = await startBroker(t, { persistence: { redis: redis.url } })
  const result = await runLoad(t, {
    publisherUrl: b.url,
    subscriberUrl: a.url,
    subscribers: 20,
    messages: 300,
    rate: 100,
    faultAt: 100,
    quietBeforeFault: true,
    fault: async () => {
      await proxy.cut()
      await sleep(2000) // the cut itself: 2 s
      await proxy.restore()
    }
  })
  const redelivered = await metricValue(a.metrics, 'vigil_redis_redelivered_total')
  t.comment(`one node cut 2 s: ${result.acked} of 300 acknowledged, ${result.lost} acknowledged deliveries lost, ${result.duplicates} duplicates; ` +
    `${redelivered} queued messages re-delivered to connected sessions after the cut; ${result.reconnects} subscriber reconnects`)
  t.equal(result.acked, 300, 'every message acknowledged')
  t.equal(result.reconnects, 0, 'the subscribers kept their connections through the cut')
  t.ok(redelivered > 0, 'what they missed came from their session queues')
  t.equal(result.lost, 0, `no acknowledged message is lost (first missing: ${result.sample.join(', ')})`)
})
