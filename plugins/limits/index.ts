/**
 * The limits plugin (contract section 9, issue 14): limits.publishRate (token
 * bucket per client; over it the client is disconnected, liveness reason
 * rate_limited), limits.maxSubscriptions (SUBACK 0x80 beyond it) and
 * limits.maxRetained (beyond it a retained message is delivered, not stored).
 * Each refusal or drop is counted; nothing is dropped silently.
 */
import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes'
import { clientSlot, isClosed, limitOfflineQueues, limitOfflineQueuesRedis, liveClient, persistenceOf, type QueueLimit } from '../../broker/aedes/index.js'
import { VigilError } from '../../broker/errors.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { StatusTopic } from '../liveness/status-topic.js'
import { registerLimitsMetrics } from './metrics.js'
import { TokenBucket } from './token-bucket.js'

interface LimitState { bucket: TokenBucket | null, filters: Set<string> }
const STATE = clientSlot<LimitState>('vigil.limits')

export const limitsPlugin = definePlugin({
  name: 'limits',
  configKey: 'limits',
  async setup (ctx) {
    const config = ctx.config
    const metrics = registerLimitsMetrics(ctx.metrics)
    const statusTopic = new StatusTopic(ctx.vigil.liveness.statusTopic)
    // limits.maxRetained is broker-wide: the retained index knows every stored topic (cluster-wide in
    // Redis mode). Topics allowed here but not yet in the index (their store is on its way) are
    // counted too, so a burst cannot overshoot; they leave `allowed` once the index has them.
    // While the Redis index is being (re)built, this node's own view (`seen`) answers instead.
    const index = ctx.maybe('retainedIndex')
    const allowed = new Map<string, number>()
    const ALLOWED_TTL_MS = 10_000
    const seen = new Set<string>()
    const stored = (topic: string): boolean => index !== undefined && index.ready() ? index.has(topic) : seen.has(topic)
    let pruneAt = 1024
    const count = (): number => {
      if (index === undefined || !index.ready()) return seen.size
      // Without pruning the sum is an upper bound: below the limit it answers as is. Pruning on
      // every call made a burst of new retained topics quadratic (10,000 wills at shutdown held
      // the event loop 2.2 s in a profile, issue 15); now it runs only when the bound reaches it.
      // `allowed` is still pruned when it has doubled since the last pass (amortised O(1)).
      const bound = index.clientTopics() + allowed.size
      if (bound < config.maxRetained && allowed.size < pruneAt) return bound
      const now = ctx.now()
      for (const [topic, at] of allowed) if (index.has(topic) || now - at > ALLOWED_TTL_MS) allowed.delete(topic)
      pruneAt = Math.max(1024, 2 * allowed.size)
      return index.clientTopics() + allowed.size
    }
    const forget = (topic: string): void => {
      seen.delete(topic)
      allowed.delete(topic)
    }
    const stateOf = (client: Client): LimitState => {
      let state = STATE.get(client)
      if (state === undefined) {
        state = { bucket: config.publishRate !== null ? new TokenBucket(config.publishRate, ctx.now()) : null, filters: new Set() }
        STATE.set(client, state)
      }
      return state
    }
    let queues: QueueLimit | null = null
    ctx.on('client', (client) => queues?.reset(client.id))
    ctx.on('unsubscribe', (filters, client) => {
      const state = STATE.get(client)
      if (state !== undefined) for (const filter of filters) state.filters.delete(filter)
    })

    const rateLimited = (client: Client): never => {
      metrics.refused('publish_rate')
      const liveness = ctx.maybe('liveness')
      // kick marks the reason synchronously, before the close it starts.
      if (liveness !== undefined) liveness.kick(client.id, 'rate_limited').catch((err) => ctx.reportError(err, 'rate-limit kick failed'))
      // MQTT 5 clients are told so: DISCONNECT 0x96, message rate too high.
      throw Object.assign(new VigilError('VIGIL_E_PUBLISH_REFUSED', `client ${client.id} is over limits.publishRate (${config.publishRate}/s)`), { reasonCode: 0x96 })
    }

    return {
      authenticate (client) { stateOf(client) },

      authorizeSubscribe (client: Client, sub: Subscription) {
        const state = stateOf(client)
        if (state.filters.has(sub.topic)) return sub
        if (state.filters.size >= config.maxSubscriptions) {
          metrics.refused('subscriptions')
          return null
        }
        state.filters.add(sub.topic)
        return sub
      },

      // Hot path: one bucket take per client PUBLISH (when publishRate is set) and one flag read.
      authorizePublish (client: Client | null, packet: PublishPacket) {
        // A closing client's publish is its will: never rate-limited (it is the last word).
        if (client !== null && !isClosed(client)) {
          const bucket = STATE.get(client)?.bucket
          if (bucket != null && !bucket.take(ctx.now())) rateLimited(client)
        }
        if (!packet.retain) return
        const topic = packet.topic
        // [MQTT-3.3.1-10] an empty retained PUBLISH clears the topic: its slot is free from now.
        if (packet.payload.length === 0) {
          forget(topic)
          return
        }
        if (statusTopic.reserved(topic) || topic.charCodeAt(0) === 36 || stored(topic) || allowed.has(topic)) return
        if (count() >= config.maxRetained) {
          // Delivered to live subscribers, not stored.
          packet.retain = false
          metrics.dropped('retained_limit')
          return
        }
        seen.add(topic)
        allowed.set(topic, ctx.now())
      },

      published (packet: AedesPublishPacket) {
        // Clears come from clients, expiry and decommission (broker publishes skip authorizePublish).
        if (packet.retain && packet.payload.length === 0) forget(packet.topic)
      },

      async beforeListen () {
        const persistence = persistenceOf(ctx.broker)
        // maxQueued: a session is offline when its client is connected here nor (by the cluster-wide
        // liveness view) on another node.
        const liveness = ctx.maybe('liveness')
        const online = (id: string): boolean => {
          if (liveClient(ctx.broker, id) !== undefined) return true
          const state = liveness?.get(id)?.state
          return state === 'online' || state === 'silent'
        }
        const dropped = (count: number): void => metrics.dropped('queue_full', count)
        const failed = (err: unknown): void => ctx.reportError(err, 'dropping the oldest queued message failed')
        if (ctx.redis === null) queues = limitOfflineQueues(persistence, online, config.maxQueued, dropped, failed)
        else limitOfflineQueuesRedis(persistence, ctx.redis, online, config.maxQueued, dropped, failed)
        for await (const packet of persistence.createRetainedStream('#')) {
          if (!statusTopic.reserved(packet.topic) && packet.topic.charCodeAt(0) !== 36) seen.add(packet.topic)
        }
      }
    }
  }
})

export default limitsPlugin
