/**
 * Retained lifecycle (docs/topics-and-payloads.md#retained-lifecycle, issue 5): records when every
 * retained message was stored, expires them by `retained.expire` rules with an
 * empty retained publish (live subscribers see the clear, the store forgets),
 * and in the same sweep has liveness forget clients offline longer than
 * `liveness.forgetAfter`. While liveness decommissions a client, its retained
 * topics are kept clear (decommissioned-topics.ts). Adapter only: the decisions live in
 * expiry-rules.ts, due-index.ts, sweeper.ts; forgetting, the cross-node kick
 * and decommission belong to liveness (plugins/liveness/membership.ts).
 */
import type { Aedes, Client, PublishPacket } from 'aedes'
import { persistenceOf, type BrokerPersistence } from '../../broker/aedes/index.js'
import { definePlugin, type VigilPlugin } from '../../broker/plugin-types.js'
import type { VigilConfig } from '../../config/schema.js'
import { ExpiryRules } from './expiry-rules.js'
import { DecommissionedTopics } from './decommissioned-topics.js'
import { registerRetainedMetrics } from './metrics.js'
import { StatusTopic } from '../liveness/status-topic.js'
import type { Due, RetainedStore } from './store.js'
import { MemoryRetainedStore } from './store-memory.js'
import { RedisRetainedStore } from './store-redis.js'
import { Sweeper, type SweepResult } from './sweeper.js'
import { publishAsync } from '../../broker/publish.js'

export type { DecommissionService } from '../api/decommission-service.js'
export type { SweepResult } from './sweeper.js'

/** Due topics taken per loop turn: small enough that one batch stays well under a few ms. */
export const SWEEP_BATCH = 128
/** A decommissioned client's topics stay clear at least this long (plus wills.delay). */
const KEEP_CLEAR_MS = 5000

export interface RetainedPluginOptions {
  /** Called after every sweep (benchmarks, diagnostics). */
  onSweep?(result: SweepResult): void
}

const EMPTY = Buffer.alloc(0)

export function retainedPlugin (options: RetainedPluginOptions = {}): VigilPlugin<VigilConfig['retained']> {
  return definePlugin({
    name: 'retained',
    configKey: 'retained',
    async setup (ctx) {
      const { broker, config } = ctx
      // Aedes assigns its persistence in listen(), after plugins are set up.
      const persistence = (): BrokerPersistence => persistenceOf(broker)
      const liveness = ctx.maybe('liveness')
      const rules = new ExpiryRules(config.expire)
      const statusTopic = new StatusTopic(ctx.vigil.liveness.statusTopic)
      const onError = (err: unknown, what: string): void => { throttledReport(err, what) }
      let lastReport = 0
      let suppressed = 0
      // A Redis outage fails every retained publish's record: one line per 5 s, all counted.
      const throttledReport = (err: unknown, what: string): void => {
        const t = ctx.now()
        if (t - lastReport < 5000) { suppressed++; return }
        lastReport = t
        ctx.reportError(err, suppressed > 0 ? `${what} (and ${suppressed} more errors)` : what)
        suppressed = 0
      }

      const store: RetainedStore = ctx.redis !== null
        ? new RedisRetainedStore(ctx.redis, onError)
        : new MemoryRetainedStore(() => retainedTopicBatches(persistence))
      const metrics = registerRetainedMetrics(ctx.metrics, () => store.size())
      const clearRetained = (topic: string): Promise<void> => publishEmptyRetained(broker, topic)

      const expire = async (batch: Due[], now: number): Promise<number> => {
        const results = await Promise.all(batch.map(async (due): Promise<boolean> => {
          const topic = due.key
          try {
            const clientId = liveness !== undefined ? (statusTopic.clientIdOf(topic) ?? undefined) : undefined
            if (clientId !== undefined) {
              const status = liveness!.get(clientId)
              if (status !== undefined && status.state !== 'offline') {
                // A connected client's status is never expired: look again one maxAge later.
                store.record(topic, due.storedAt, now + (rules.maxAgeOf(topic) ?? config.sweepInterval))
                return false
              }
              if (status !== undefined) {
                await liveness!.forget(clientId)
                return true
              }
            }
            await clearRetained(topic)
            return true
          } catch (err) {
            onError(err, 'expiring a retained message failed')
            store.record(topic, due.storedAt, now + config.sweepInterval)
            return false
          }
        }))
        let expired = 0
        for (const done of results) if (done) expired++
        metrics.expired.inc(expired)
        return expired
      }

      const sweeper = new Sweeper({
        store,
        scheduler: ctx.scheduler,
        batchSize: SWEEP_BATCH,
        expire,
        onError,
        onSweep: (result) => {
          ctx.log.debug(result, 'retained sweep')
          options.onSweep?.(result)
        },
        reconcile: async () => {
          const adopted = await store.reconcile(ctx.now(), (topic) => rules.maxAgeOf(topic))
          if (adopted > 0) ctx.log.info({ adopted }, 'retained messages of unknown age adopted as stored now')
        },
        // The status of a client offline longer than liveness.forgetAfter expires in the same sweep.
        alsoDue: liveness === undefined
          ? undefined
          : async (now) => {
            const forgotten = await liveness.forgetDue(now)
            metrics.expired.inc(forgotten)
            return forgotten
          }
      })

      // Liveness decommissions; every node hears of the kick first and keeps the client's topics
      // clear, so its will and offline status do not re-create what the decommission clears.
      const decommissioned = new DecommissionedTopics(statusTopic, ctx.scheduler)
      const stopListening = liveness?.onKickRequested((clientId) => decommissioned.add(clientId, KEEP_CLEAR_MS + ctx.vigil.wills.delay))

      /** A decommissioned client's retained topic was stored again: clear it again. */
      const clearAgain = (topic: string, owner: { clientId: string, status: boolean }): void => {
        const done = owner.status && liveness !== undefined ? liveness.forget(owner.clientId) : clearRetained(topic)
        done.catch((err: unknown) => onError(err, 'clearing a decommissioned client\'s retained message failed'))
      }

      return {
        // Hot path: one property read for the non-retained majority.
        authorizePublish (_client: Client | null, packet: PublishPacket) {
          if (!packet.retain || !decommissioned.active || packet.payload.length === 0) return
          // The will or a late publish of a decommissioned client still reaches
          // live subscribers but is deliberately not stored: the operator's
          // decommission cleared the topic and storing it would undo that.
          if (decommissioned.ownerOf(packet.topic) !== undefined) packet.retain = false
        },
        published (packet) {
          if (!packet.retain) return
          const topic = packet.topic
          // [MQTT-3.3.1-10]: an empty retained payload removes the retained message.
          if (packet.payload.length === 0) return store.clear(topic)
          if (decommissioned.active) {
            const owner = decommissioned.ownerOf(topic)
            if (owner !== undefined) return clearAgain(topic, owner)
          }
          const now = ctx.now()
          store.record(topic, now, rules.dueAt(topic, now))
        },
        start () {
          sweeper.start(config.sweepInterval)
        },
        async beforeShutdown () {
          await sweeper.stop()
        },
        close () {
          stopListening?.()
          decommissioned.close()
        }
      }
    }
  })
}

/** An empty retained publish through the broker: subscribers see the clear, the store forgets [MQTT-3.3.1-10]. */
function publishEmptyRetained (broker: Aedes, topic: string): Promise<void> {
  return publishAsync(broker, { cmd: 'publish', topic, payload: EMPTY, qos: 1, retain: true, dup: false })
}

/** The topics of every retained message the persistence holds, in batches. */
async function * retainedTopicBatches (persistence: () => BrokerPersistence): AsyncIterable<string[]> {
  let batch: string[] = []
  for await (const packet of persistence().createRetainedStream('#')) {
    batch.push(packet.topic)
    if (batch.length >= 500) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}

export default retainedPlugin()
