/**
 * Redis mode: what the broker acknowledges while Redis is failing (issue 11).
 *
 * Aedes 1.2 acknowledges a QoS 1 PUBLISH before it keeps it: enqueuePublish in
 * lib/handlers/publish.js writes the PUBACK and only calls broker.publish (store
 * retained, enqueue for offline sessions, emit through Redis) from the write's
 * callback. When Redis fails, that publish errors (ioredis gives up on queued
 * commands after maxRetriesPerRequest reconnects, "max retries per request"),
 * Aedes closes the connection, and the publisher, holding its PUBACK, never
 * sends the message again: it is lost. (QoS 2 is stored before its PUBREC.)
 *
 * Here, in one place:
 * - a client's QoS 1 PUBLISH is published first, from authorizePublish (the
 *   last step before enqueuePublish), and the PUBACK only goes out once
 *   broker.publish has called back without error; the publish Aedes then
 *   starts for the packet is answered at once, so nothing is routed twice;
 * - an error refuses it: Aedes closes the connection without PUBACK, and the
 *   client sends the message again when it reconnects [MQTT-4.4.0-1];
 * - while the connections a PUBLISH needs are down, QoS 1/2 PUBLISHes are
 *   refused at once (rather than after ioredis' retries), QoS 0 ones delivered on this node only
 *   without closing the connection (at most once), and CONNECTs get CONNACK 3
 *   at once (epochs, sessions and wills are in Redis) [MQTT-3.2.2-6];
 * - every refusal is counted (vigil_redis_refused_total) and logged at warn,
 *   with counts, at most once per 5 s.
 *
 * Wills never pass here as client PUBLISHes: a will is the client's `will`
 * object, or carries the brokerId Aedes' putWill adds to it.
 */
import type { Aedes, Client, PublishPacket } from 'aedes'
import { Counter, type Registry } from 'prom-client'
import { ConnackCode, ConnectRefused, errorMessage, VigilError } from '../errors.js'
import type { Logger } from '../logger.js'
import { pendingWill } from './client-fields.js'

export const REFUSALS = ['publish', 'publish_qos0', 'connect'] as const
type Refusal = typeof REFUSALS[number]

const LOG_EVERY_MS = 5000

type Done = (err?: Error | null) => void
type PublishFn = (packet: PublishPacket, client: Client | null, done?: Done) => void

interface Gated { available(): boolean }

/** A client's own PUBLISH, as the parser made it: not a will, not a broker message. */
function fromClient (client: Client | null, packet: PublishPacket): client is Client {
  return client !== null && packet.cmd === 'publish' &&
    (packet as { brokerId?: unknown }).brokerId === undefined &&
    packet !== pendingWill(client)
}

/**
 * `subscribed`: whether this node receives from the others (broker/aedes/session-replay.ts); a CONNECT
 * accepted without it would read its session's queue while messages to it still vanish.
 */
export function gateOnRedis (broker: Aedes, redis: Gated, subscribed: () => boolean, log: Logger, registry: Registry): void {
  const refused = new Counter({
    name: 'vigil_redis_refused_total',
    help: 'Work refused because Redis failed: QoS 1/2 PUBLISHes not acknowledged (the client re-sends them), ' +
      'QoS 0 PUBLISHes dropped, CONNECTs answered CONNACK 3',
    labelNames: ['what'],
    registers: [registry]
  })
  for (const what of REFUSALS) refused.inc({ what }, 0)

  // Rate-limited report: the first refusal is logged at once, then the counts every 5 s while they go on.
  const pending: Record<Refusal, number> = { publish: 0, publish_qos0: 0, connect: 0 }
  let lastError = ''
  let timer: NodeJS.Timeout | null = null
  const flush = (): void => {
    timer = null
    if (pending.publish + pending.publish_qos0 + pending.connect === 0) return
    log.warn({ code: 'VIGIL_E_REDIS', notAcknowledged: pending.publish, qos0Dropped: pending.publish_qos0,
      connectsRefused: pending.connect, err: lastError, windowMs: LOG_EVERY_MS },
    'redis failing: PUBLISHes not acknowledged (clients re-send them), CONNECTs refused with CONNACK 3')
    pending.publish = pending.publish_qos0 = pending.connect = 0
    timer = setTimeout(flush, LOG_EVERY_MS)
    timer.unref()
  }
  const count = (what: Refusal, err: string): void => {
    refused.inc({ what })
    pending[what]++
    lastError = err
    if (timer === null) flush()
  }

  const unavailable = (): VigilError => new VigilError('VIGIL_E_REDIS', 'redis unavailable: not acknowledged')

  const authorize = broker.authorizePublish.bind(broker)
  const publish = (broker.publish as unknown as PublishFn).bind(broker)
  /** Packets already routed from authorizePublish: the publish Aedes starts after the PUBACK is a no-op. */
  const routed = new WeakSet<PublishPacket>()

  broker.authorizePublish = (client, packet, callback) => {
    if (!fromClient(client, packet) || packet.qos === 0) return authorize(client, packet, callback)
    if (!redis.available()) {
      count('publish', 'unavailable')
      return callback(unavailable())
    }
    if (packet.qos !== 1) return authorize(client, packet, callback)
    authorize(client, packet, (err) => {
      if (err !== null && err !== undefined) return callback(err)
      publish(packet, client, (failed) => {
        if (failed !== null && failed !== undefined) {
          count('publish', errorMessage(failed))
          return callback(new VigilError('VIGIL_E_REDIS', `not acknowledged: ${errorMessage(failed)}`, failed))
        }
        routed.add(packet)
        callback(null)
      })
    })
  }

  ;(broker as unknown as { publish: PublishFn }).publish = (packet, client, done) => {
    if (typeof client === 'function') return publish(packet, null, client as Done)
    if (routed.has(packet)) {
      routed.delete(packet)
      if (done !== undefined) done(null)
      return
    }
    if (packet.qos !== 0 || !fromClient(client ?? null, packet)) return publish(packet, client ?? null, done)
    // QoS 0 from a client: at most once, so a failure drops it rather than closing the connection.
    // With Redis gone a retained one cannot be stored: dropped. Any other one still reaches this
    // node's subscribers (the emitter delivers locally first, local-first-emitter.ts); what could
    // not be routed to other nodes is counted.
    if (packet.retain && !redis.available()) {
      count('publish_qos0', 'unavailable')
      if (done !== undefined) done(null)
      return
    }
    publish(packet, client ?? null, (err) => {
      if (err !== null && err !== undefined) count('publish_qos0', errorMessage(err))
      if (done !== undefined) done(null)
    })
  }

  const authenticate = broker.authenticate.bind(broker)
  broker.authenticate = (client, username, password, callback) => {
    if (redis.available() && subscribed()) return authenticate(client, username, password, callback)
    count('connect', 'unavailable')
    callback(new ConnectRefused(ConnackCode.SERVER_UNAVAILABLE, 'redis unavailable') as ConnectRefused & { returnCode: 3 }, false)
  }
}
