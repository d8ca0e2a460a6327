/**
 * Truthful wills (issue 4, docs/topics-and-payloads.md#wills). Liveness owns a
 * connection's end and announces it once (`liveness.onEnded`); this plugin
 * consumes it. The parts, one concern each:
 * - local-wills.ts: the will of a connection of this node: decided (decide.ts:
 *   suppressed after a takeover or an older epoch, delayed for wills.delay,
 *   or published), stamped (stamp.ts) and, in Redis mode, fenced
 *   (publish-fence.ts) as it passes authorizePublish;
 * - will-outcome.ts: what a decision does to the will (refuse and count, put
 *   into liveness' delay store, stamp and let through);
 * - delayed-wills.ts: a delayed will when its delay runs out or is cancelled;
 * - recovered-wills.ts with recovery.ts: wills of a lost node (or of this
 *   node's previous run) read back from persistence, claimed in Redis so
 *   exactly one node publishes each;
 * - shutdown-wills.ts: at shutdown every connected client's will goes out,
 *   awaited, before the broker closes;
 * - takeover-will-restore.ts: a same-node takeover keeps the new will stored.
 * Other publishes pass with three property reads and no allocation.
 */
import { connectWill, isClosed, willDelayOf, type WillPacket } from '../../broker/aedes/index.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { delayedWills } from './delayed-wills.js'
import { LocalWills } from './local-wills.js'
import { willMetrics } from './metrics.js'
import { redisPublishFence } from './publish-fence.js'
import { RecoveredWills, type StoredWill } from './recovered-wills.js'
import { recoverWillsOf } from './recovery.js'
import { publishShutdownWills } from './shutdown-wills.js'
import { TakeoverWillRestore } from './takeover-will-restore.js'
import { WillOutcome } from './will-outcome.js'

export const willsPlugin = definePlugin({
  name: 'wills',
  configKey: 'wills',
  needs: ['liveness', 'cluster'],
  async setup (ctx) {
    const { broker, config, log, nodeId, redis, scheduler } = ctx
    const liveness = ctx.need('liveness')
    const cluster = ctx.need('cluster')
    const lifecycle = ctx.need('lifecycle')
    const metrics = willMetrics(ctx.metrics)
    const reportError = (err: unknown, what: string): void => ctx.reportError(err, what)
    // In memory mode a delayed will would die with the process: at shutdown it goes out now.
    const canDelay = (): boolean => redis !== null || !lifecycle.shuttingDown
    const outcome = new WillOutcome({ liveness, metrics, log, stamp: config.stamp, tsUnit: config.tsUnit, reportError })
    const local = new LocalWills({
      liveness, outcome, scheduler, delay: config.delay, canDelay, reportError,
      fence: redis !== null ? redisPublishFence(redis, scheduler) : null
    })
    const recovered = new RecoveredWills({ broker, nodeId, redis, liveness, outcome, metrics, scheduler, delay: config.delay, canDelay })
    const restore = new TakeoverWillRestore(broker, nodeId, reportError)
    /** Wills this plugin took off their (open) clients at shutdown, to publish them itself. */
    const takenAtShutdown = new WeakSet<WillPacket>()
    let closed = false

    const stopEnded = liveness.onEnded((end) => {
      restore.ended(end)
      local.ended(end)
    })
    liveness.handleDelayedWills(delayedWills(broker, liveness, metrics, log, reportError, config.stamp))

    const stopRecovery = cluster.onNodeLost((lost) => {
      if (redis === null || closed) return
      const started = scheduler.now()
      // One survivor recovers the lost node's wills: with every survivor walking all of them
      // (each will then claimed by one), 5,000 wills took 5.5 s on a loaded machine and broke
      // the 15 s bound. The claim lapses after 3 beats, as the node could be lost again by then;
      // should the claimant die midway, Aedes' own will sweep on the last node publishes the rest.
      redis.set(`vigil:wills:node-lost:${lost}`, nodeId, 'PX', 3 * cluster.heartbeatMs, 'NX').then(async (claimed) => {
        if (claimed !== 'OK') return
        const count = await recoverWillsOf(broker, lost, (err) => ctx.reportError(err, 'recovering a will failed'), redis)
        log.info({ lostNode: lost, published: count, ms: scheduler.now() - started }, 'recovered wills of a lost node')
      }).catch((err: unknown) => ctx.reportError(err, 'recovering wills of a lost node failed'))
    })

    return {
      async beforeListen () {
        restore.install()
        // Redis mode: wills stored under this node id by a previous run that crashed (SIGKILL,
        // OOM) are never swept by Aedes, since this id looks alive again: publish them now,
        // node_lost, before any client of this run can store a will under the same id.
        if (redis === null) return
        const count = await recoverWillsOf(broker, nodeId, (err) => ctx.reportError(err, 'recovering a will of a previous run failed'))
        if (count > 0) log.info({ published: count }, 'published wills left by a previous run of this node')
      },

      authenticate (client) {
        // Tag the will with this connection's epoch: it is stored with it (putWill) and comes
        // back with a lost node's wills, so a stale one can be told apart.
        const will = connectWill(client)
        const epoch = liveness.epochOf(client)
        if (will !== null && epoch !== undefined) will.vigilEpoch = epoch
        // MQTT 5: the client's own Will Delay Interval travels the same way, so a survivor
        // that recovers this will holds it for that delay, not wills.delay [MQTT-3.1.3-9].
        const willDelay = will === null ? undefined : willDelayOf(client)
        if (will !== null && willDelay !== undefined) will.vigilWillDelay = willDelay
        // Redis mode, after liveness took the new epoch: a will of the previous connection that
        // another node is publishing right now goes out before this CONNACK (publish-fence.ts).
        return local.waitClear(client.id)
      },

      published (packet, client) {
        if (client !== null) local.published(packet as WillPacket, client.id)
      },

      authorizePublish (client, packet) {
        const p = packet as WillPacket
        // A closing client's publish is its will; at shutdown, also the wills taken off open clients.
        if (client !== null && (isClosed(client) || (lifecycle.shuttingDown && takenAtShutdown.has(p)))) {
          const decided = local.decisionFor(p)
          if (decided !== undefined) return decided()
          // Its end was not announced (a listener failed, reported): unstamped beats lost.
          if (p.brokerId === nodeId && p.clientId === client.id) return
        }
        // Hot path: a client's PUBLISH carries neither field.
        if (p.brokerId === undefined || p.clientId === undefined) return
        return recovered.authorize(p as StoredWill)
      },

      async beforeShutdown () {
        // Liveness' beforeShutdown (registered earlier) has announced every connection's end, server_shutdown.
        const published = await publishShutdownWills(broker, takenAtShutdown, (err) => ctx.reportError(err, 'shutdown will failed'))
        if (published > 0) log.debug({ published }, 'wills published at shutdown')
      },

      close () {
        closed = true
        stopRecovery()
        stopEnded()
      }
    }
  }
})

export default willsPlugin
