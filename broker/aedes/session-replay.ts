/**
 * Redis mode: messages the emitter lost while this node's subscriber
 * connection was down, re-delivered from the sessions' queues (issue 11).
 *
 * Between nodes a message travels as a Redis PUBLISH (mqemitter-redis), and
 * Redis pub/sub keeps nothing for a connection that is not subscribed: while
 * this node's subscriber connection is down or not yet re-subscribed (ioredis
 * re-subscribes after it reports `ready`), whatever other nodes publish never
 * reaches this node. The publishing node did store each QoS 1/2 message in the
 * queue of every persistent session (Aedes' enqueueOffline, before the emit),
 * but Aedes only reads that queue at CONNECT: a persistent client that stayed
 * connected here would miss those messages until it reconnects.
 *
 * So when the subscriber connection is back and its subscriptions are
 * confirmed (a PING queued behind them has answered), each persistent client
 * connected here gets the queued messages it missed: those from a node whose
 * counter lies between the last one it got before the drop and the first one
 * it got after (Aedes' per-client `duplicates`, watched during the drop), in
 * queue order. A few duplicates are possible (QoS 1 is at least once); nothing
 * else of Aedes changes.
 */
import type { Aedes } from 'aedes'
import type { Redis } from 'ioredis'
import { Counter, type Registry } from 'prom-client'
import { errorMessage } from '../errors.js'
import type { Logger } from '../logger.js'
import { liveClients, persistenceOf } from './broker-fields.js'

interface Queued { brokerId?: string, brokerCounter?: number, messageId?: number, qos: number, topic: string }

interface ClientInternals {
  id: string
  clean: boolean
  closed: boolean
  connected: boolean
  duplicates: Record<string, number>
  deliverQoS(packet: Queued, cb: () => void): void
}

/** What one client had got from each node when the connection dropped, and the first counters since. */
interface Watch { client: ClientInternals, before: Record<string, number>, first: Record<string, number>, original: Record<string, number> }

/**
 * Returns whether the subscriber connection is up with its subscriptions confirmed: a CONNECT
 * accepted before that would read its queue while messages to it can still vanish (broker/aedes/redis-gate.ts).
 */
export function replayAfterResubscribe (broker: Aedes, subscriber: Redis, log: Logger, registry: Registry): () => boolean {
  const redelivered = new Counter({
    name: 'vigil_redis_redelivered_total',
    help: 'Queued QoS 1/2 messages re-delivered to persistent sessions connected here, missed while the Redis subscriber connection was down',
    registers: [registry]
  })
  let watches: Watch[] | null = null
  let replaying = false
  let subscribed = subscriber.status === 'ready'

  const watching = ({ original, first }: Watch): Record<string, number> => new Proxy(original, {
    set (target, key, value: number) {
      if (typeof key === 'string' && !(key in first)) first[key] = value
      target[key as string] = value
      return true
    }
  })

  // Fields of an Aedes 1.2 client beyond client-fields.ts, used only here (pinned in test/unit/aedes-boundary.test.ts).
  const clients = (): ClientInternals[] => liveClients(broker) as unknown[] as ClientInternals[]

  /**
   * The drop: remember each persistent client's counters, and watch the first one per node it
   * gets afterwards (Aedes' dedupe writes client.duplicates[brokerId] on every delivery).
   */
  const dropped = (): void => {
    if (watches !== null || broker.closed) return
    watches = []
    for (const client of clients()) {
      if (client.clean || client.closed) continue
      const original = client.duplicates
      const w: Watch = { client, before: { ...original }, first: {}, original }
      client.duplicates = watching(w)
      watches.push(w)
    }
  }

  const replayOne = async (w: Watch): Promise<number> => {
    const { client, before, first, original } = w
    client.duplicates = original
    if (client.closed || !client.connected) return 0
    let count = 0
    for await (const packet of persistenceOf(broker).outgoingStream(client) as AsyncIterable<Queued>) {
      const id = packet.brokerId
      const counter = Number(packet.brokerCounter)
      if (id === undefined || !Number.isFinite(counter) || packet.qos === 0) continue
      if (counter <= (before[id] ?? 0) || (first[id] !== undefined && counter >= first[id]!)) continue
      if (client.closed) break
      // The stored packet carries the message id of whichever session was last sent it: a fresh one is assigned.
      delete packet.messageId
      // deliverQoS runs Aedes' duplicate filter (client.js dedupe), which drops a counter lower than
      // the newest seen from that node and clears it from the queue: this one is let through.
      const seen = original[id]
      original[id] = counter - 1
      await new Promise<void>((resolve) => client.deliverQoS(packet, resolve))
      original[id] = Math.max(seen ?? 0, counter)
      count++
    }
    return count
  }

  const replay = async (): Promise<void> => {
    if (watches === null || replaying) return
    replaying = true
    try {
      // Commands on one connection answer in order: the PING answers after the re-subscriptions ioredis sent on `ready`.
      await subscriber.ping()
    } catch (err) {
      // Dropped again before it answered: the watch goes on until the next `ready`.
      replaying = false
      log.warn({ code: 'VIGIL_E_REDIS', err: errorMessage(err) }, 'redis subscriber connection back, but not for long; re-delivery waits for the next reconnect')
      return
    }
    subscribed = subscriber.status === 'ready'
    const pending = watches
    watches = null
    try {
      // Sessions in parallel: each one's queue is read key by key (a GET per message), in order.
      const counts = await Promise.all(pending.map(async (w) => await replayOne(w).catch((err: unknown) => {
        log.warn({ code: 'VIGIL_E_REDIS', clientId: w.client.id, err: errorMessage(err) }, 're-delivering a session\'s queued messages failed; it gets them at its next CONNECT')
        return 0
      })))
      let total = 0
      let sessions = 0
      for (const n of counts) {
        if (n > 0) sessions++
        total += n
      }
      redelivered.inc(total)
      log.warn({ code: 'VIGIL_E_REDIS', redelivered: total, sessions, watched: pending.length },
        'redis subscriber connection back: queued messages it missed re-delivered to persistent sessions')
    } finally {
      replaying = false
      // Dropped and back again while this ran: that window's turn now.
      if (watches !== null && subscriber.status === 'ready') void replay()
    }
  }

  subscriber.on('close', () => {
    subscribed = false
    dropped()
  })
  subscriber.on('ready', () => {
    if (watches === null) {
      // First connection (nothing to replay): subscribed once a PING has answered behind the SUBSCRIBEs.
      subscriber.ping().then(() => { subscribed = subscriber.status === 'ready' }, () => {})
      return
    }
    void replay()
  })
  return () => subscribed && subscriber.status === 'ready'
}
