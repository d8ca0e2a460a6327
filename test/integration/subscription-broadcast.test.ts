/**
 * Redis mode: every node's persistence learns every subscription, whatever the
 * routes (broker/local-first-emitter.ts). A persistent session's subscription
 * made on one node before it had heard of a node that had just started never
 * reached the new node's persistence: that node queued nothing for the
 * session, and the session lost every acknowledged QoS 1 message published
 * there while it was away (redis-proxy-cut's one-node cut lost a whole
 * subscriber's window that way, one loaded run in a few).
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { LocalFirstEmitter } from '../../broker/local-first-emitter.js'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

interface Message { topic: string, payload?: unknown }

t.test('a subscription update reaches a node that has no route for it yet, and one whose persistence listens only later', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const conns: Redis[] = []
  const conn = (): Redis => { const c = new Redis(redis.url); conns.push(c); return c }
  const emitters: LocalFirstEmitter[] = []
  t.teardown(async () => {
    await Promise.all(emitters.map(async (e) => await new Promise<void>((resolve) => e.close(() => resolve()))))
    for (const c of conns) c.disconnect()
  })
  const a = new LocalFirstEmitter({ nodeId: 'node-a', pubConn: conn(), subConn: conn() })
  emitters.push(a)
  await a.subscribed
  const b = new LocalFirstEmitter({ nodeId: 'node-b', pubConn: conn(), subConn: conn() })
  emitters.push(b)
  await b.subscribed
  // b listens for nothing yet: routed by filters, a's update would go nowhere but a itself.
  t.same(a.routedNodes('$SYS/sub/add'), [], 'node-a knows no route of node-b for subscription updates')
  const atA: Message[] = []
  a.on('$SYS/sub/+', (m, done) => { atA.push(m); done() })
  await new Promise<void>((resolve, reject) => a.emit({ topic: '$SYS/sub/add', payload: 'first' }, (err) => err === undefined ? resolve() : reject(err)))
  // b's persistence subscribes after reading what Redis holds (aedes-persistence-redis' setup):
  // an update that came in between is handed to it then.
  const atB: Message[] = []
  const probe = new LocalFirstEmitter({ nodeId: 'probe', pubConn: conn(), subConn: conn() })
  emitters.push(probe)
  await probe.subscribed
  await new Promise<void>((resolve) => probe.emit({ topic: '$SYS/sub/rm', payload: 'second' }, () => resolve()))
  // Barrier: the probe announces a route on the same connection after 'second'; once node-b knows
  // that route, its subscriber connection has read both updates (Redis delivers in order) with no listener for them.
  probe.on('probe/route', (_m, done) => done())
  await waitFor(() => b.routedNodes('probe/route').includes('probe'), 5000, 'node-b knows the probe\'s route')
  b.on('$SYS/sub/+', (m, done) => { atB.push(m); done() })
  t.same(atB.map((m) => m.payload), ['first', 'second'], 'node-b got both updates, in order, though it had no route and listened late')
  await waitFor(() => atA.length >= 2, 5000, 'node-a got the probe\'s update')
  t.same(atA.map((m) => m.payload), ['first', 'second'], 'node-a got its own update once (locally) and the probe\'s')
  // A plain topic still follows the routes: nobody subscribes, so it stays on node-a.
  t.same(a.routedNodes('plain/topic'), [], 'ordinary messages keep local-first routing')
})

t.test('a persistent session subscribed just as another node starts gets, from its queue, what that node acknowledged while it was away', { timeout: 90_000 }, async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { persistence: { redis: redis.url } })
  // Subscribe on node A while node B starts: B reads the stored subscriptions at some point in between.
  const starting = startBroker(t, { persistence: { redis: redis.url } })
  const subscribers = []
  for (let i = 0; i < 5; i++) {
    const sub = await connectClient(t, a.url, { clientId: `early-sub-${i}`, clean: false })
    await subscribe(sub, 'early/topic', 1)
    subscribers.push(sub)
  }
  const b = await starting
  for (const sub of subscribers) await sub.endAsync()
  const pub = await connectClient(t, b.url, { clientId: 'early-pub' })
  for (let n = 0; n < 10; n++) await pub.publishAsync('early/topic', String(n), { qos: 1 })
  for (let i = 0; i < 5; i++) {
    const back = await connectClient(t, a.url, { clientId: `early-sub-${i}`, clean: false })
    const got = collect(back)
    // What must arrive is waited for (a message published now, live, may overtake the queue's
    // replay after the CONNACK, so it is no barrier for the queue: it ended this wait early once).
    const numbers = (): Set<string> => new Set(got.map((m) => m.payload.toString()))
    await waitFor(() => numbers().size === 10, 15_000, `early-sub-${i}'s ten queued messages`).catch(() => {})
    t.equal(numbers().size, 10, `early-sub-${i} got all 10 acknowledged messages from its queue`)
    await back.endAsync()
  }
})
