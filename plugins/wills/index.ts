/**
 * Truthful wills (issue 4, docs/topics-and-payloads.md#wills). Every will the broker
 * publishes passes Aedes' authorizePublish: a local close or keepalive expiry
 * (`client.close()`), a takeover, the shutdown path (broker/shutdown.ts) and
 * wills recovered from a dead node (client null or another client object,
 * packet read back from persistence). That one hook recognises wills, then:
 * - suppresses a will whose connection was replaced (takeover, older epoch,
 *   client already back elsewhere): vigil_wills_suppressed_total{cause};
 * - stamps it (stamp.ts) with the time of death and reason from the liveness
 *   service (node_lost: the cluster service's last heartbeat of the node);
 * - holds it for `wills.delay` (refused here, published later by this plugin
 *   through broker.publish, which does not pass authorizePublish);
 * - claims recovered wills in Redis so exactly one node publishes each.
 * Other publishes pass with two property reads and no allocation.
 */
import type { Client, PublishPacket } from 'aedes'
import { VigilError } from '../../broker/errors.js'
import { definePlugin } from '../../broker/plugin-types.js'
import type { ConnectionEnd } from '../liveness/service.js'
import { decideDue, decideWill, type WillDecision } from './decide.js'
import type { HeldWill, PendingStore } from './held-will.js'
import { willMetrics } from './metrics.js'
import { redisPublishFence } from './publish-fence.js'
import { recoverWillsOf } from './recovery.js'
import { stampPayload, type Death } from './stamp.js'
import { memoryPendingStore } from './store-memory.js'
import { redisPendingStore } from './store-redis.js'
import { publishAsync } from '../../broker/publish.js'

/** A will packet as Aedes hands it over: persistence adds clientId and brokerId (putWill). */
interface WillPacket extends PublishPacket {
  clientId?: string
  brokerId?: string
  /** The epoch of the connection that set the will, tagged at CONNECT so it travels through persistence. */
  vigilEpoch?: number
}
interface ClientInternals { will?: WillPacket | null, _will?: WillPacket | null, closed: boolean }
interface WillPersistence {
  delWill(client: { id: string, brokerId: string }): Promise<unknown>
  putWill(client: Client, packet: WillPacket): Promise<unknown>
}

/** A claim outlives any sweep that could still see the will (Aedes sweeps every 16 s). */
const CLAIM_TTL_MS = 10 * 60_000
const CLAIM_PREFIX = 'vigil:wills:claim:'
/** Redis mode: how often each node looks for due pending wills (bounded by the delay). */
const POLL_MAX_MS = 500
const POLL_MIN_MS = 50
/** Marks a client taken over by a connection on another node. */
const REMOTE = { closed: false }

const withheld = (what: string): VigilError => new VigilError('VIGIL_E_PUBLISH_REFUSED', what)

export const willsPlugin = definePlugin({
  name: 'wills',
  configKey: 'wills',
  needs: ['liveness', 'cluster'],
  async setup (ctx) {
    const { broker, config, log, nodeId, redis } = ctx
    const liveness = ctx.need('liveness')
    const cluster = ctx.need('cluster')
    const lifecycle = ctx.need('lifecycle')
    const metrics = willMetrics(ctx.metrics)
    const store: PendingStore = redis !== null ? redisPendingStore(redis) : memoryPendingStore()
    const persistence = (): WillPersistence => (broker as unknown as { persistence: WillPersistence }).persistence
    const clients = (): Record<string, Client> => (broker as unknown as { clients: Record<string, Client> }).clients
    /** Old client -> the connection replacing it (a client here, or REMOTE). */
    const takenOver = new WeakMap<Client, { closed: boolean }>()
    let timer: NodeJS.Timeout | null = null
    let polling = false
    let closed = false

    const stamp = (payload: Buffer, death: Death): Buffer =>
      config.stamp ? stampPayload(payload, death, config.tsUnit) : payload

    const endOf = (client: Client): ConnectionEnd => {
      try {
        return liveness.endOf(client)
      } catch (err) {
        // Untracked (should not happen): still publish a truthful-enough will.
        ctx.reportError(err, 'liveness.endOf failed; will stamped with now')
        const at = ctx.now()
        return { clientId: client.id, epoch: liveness.epochOf(client) ?? 0, reason: lifecycle.shuttingDown ? 'server_shutdown' : 'connection_lost', at, lastHeartbeat: null, lastPacket: null }
      }
    }

    const held = (packet: WillPacket, death: Death, epoch: number | undefined, due: number): HeldWill => ({
      clientId: death.clientId,
      epoch,
      due,
      topic: packet.topic,
      payload: stamp(packet.payload as Buffer, death),
      qos: packet.qos,
      retain: packet.retain,
      reason: death.reason,
      at: death.at
    })

    /** Apply a decision; returns nothing to let the will through, throws (or rejects) to refuse it. */
    const apply = (decision: WillDecision, packet: WillPacket, death: Death, epoch: number | undefined): void | Promise<void> => {
      if (decision.action === 'suppress') {
        metrics.suppressed(decision.cause)
        log.debug({ clientId: death.clientId, cause: decision.cause }, 'will suppressed')
        throw withheld(`will suppressed (${decision.cause})`)
      }
      if (decision.action === 'hold') {
        const entry = held(packet, death, epoch, decision.due)
        return store.hold(entry).then(() => {
          schedule()
          throw withheld('will held for wills.delay')
        }, (err: unknown) => {
          // Could not hold it (Redis down): publishing now beats losing it.
          ctx.reportError(err, 'could not hold a will; publishing it now')
          packet.payload = entry.payload
          metrics.published(death.reason)
        })
      }
      packet.payload = stamp(packet.payload as Buffer, death)
      metrics.published(death.reason)
    }

    /**
     * Redis mode: a will about to go out passes the publish fence (publish-fence.ts), which
     * suppresses it if a newer epoch exists and otherwise holds a reconnect elsewhere until
     * it is out (released in `published`). Memory mode has one node: nothing to order.
     */
    const fence = redis !== null ? redisPublishFence(redis) : null
    const inFlight = new WeakSet<WillPacket>()
    const fenced = (clientId: string, epoch: number, decision: WillDecision, packet: WillPacket, death: Death): void | Promise<void> => {
      if (fence === null || decision.action !== 'publish') return apply(decision, packet, death, epoch)
      return fence.open(clientId, epoch).then((open) => {
        if (!open) return apply({ action: 'suppress', cause: 'stale_epoch' }, packet, death, epoch)
        inFlight.add(packet)
        return apply(decision, packet, death, epoch)
      }, (err: unknown) => {
        // Redis is unreachable: publishing the will beats losing it.
        ctx.reportError(err, 'will publish fence unavailable; publishing unfenced')
        return apply(decision, packet, death, epoch)
      })
    }

    const onLocalWill = (client: Client, packet: WillPacket): void | Promise<void> => {
      const end = endOf(client)
      const newer = takenOver.get(client)
      const death: Death = { clientId: client.id, reason: end.reason, at: end.at, lastSeen: end.lastHeartbeat }
      const decision = decideWill({
        willEpoch: end.epoch,
        currentEpoch: liveness.currentEpoch(client.id),
        reason: end.reason,
        takenOver: newer !== undefined && !newer.closed,
        connectedElsewhere: false,
        at: end.at,
        now: ctx.now(),
        delay: config.delay,
        // In memory mode a held will would die with the process: at shutdown it goes out now.
        canHold: redis !== null || !lifecycle.shuttingDown
      })
      if ((client as unknown as ClientInternals).will === packet) return fenced(client.id, end.epoch, decision, packet, death)
      // Shutdown path (broker/shutdown.ts): it does not delete a refused will from persistence, and
      // another node would later recover it as node_lost. Aedes' own close deletes it after a refusal.
      const forget = async (err: unknown): Promise<never> => {
        await persistence().delWill({ id: client.id, brokerId: nodeId }).catch(() => {})
        throw err
      }
      try {
        const result = fenced(client.id, end.epoch, decision, packet, death)
        return result === undefined ? undefined : result.catch(forget)
      } catch (err) {
        return forget(err)
      }
    }

    /** SET NX: the first node to claim a lost node's will publishes it; memory mode has no other node. */
    const claim = async (brokerId: string, clientId: string, epoch: number | undefined): Promise<boolean> => {
      if (redis === null) return true
      const key = `${CLAIM_PREFIX}${brokerId}:${clientId}:${epoch ?? 'x'}`
      return await redis.set(key, nodeId, 'PX', CLAIM_TTL_MS, 'NX') === 'OK'
    }

    const onRecoveredWill = async (packet: WillPacket & { clientId: string, brokerId: string }): Promise<void> => {
      const { clientId, brokerId } = packet
      const epoch = typeof packet.vigilEpoch === 'number' ? packet.vigilEpoch : undefined
      const refuse = async (err: VigilError): Promise<never> => {
        // Aedes' sweep would emit 'error' and retry a refused will forever if it stayed in persistence.
        await persistence().delWill({ id: clientId, brokerId })
        throw err
      }
      if (!await claim(brokerId, clientId, epoch)) {
        metrics.suppressed('duplicate')
        return await refuse(withheld('will already claimed by another sweep'))
      }
      const status = liveness.get(clientId)
      // A will of this very node id is from a previous run that died (beforeListen): its
      // clients' last packets are the best time of death; a lost peer's is its last heartbeat.
      const at = brokerId === nodeId
        ? status?.lastPacket ?? ctx.now()
        : cluster.lastSeen(brokerId) ?? ctx.now()
      const death: Death = { clientId, reason: 'node_lost', at, lastSeen: status?.lastHeartbeat ?? null }
      const decision = decideWill({
        willEpoch: epoch,
        currentEpoch: liveness.currentEpoch(clientId),
        reason: 'node_lost',
        takenOver: false,
        connectedElsewhere: clients()[clientId] !== undefined || (status !== undefined && status.state !== 'offline' && status.node !== brokerId),
        at,
        now: ctx.now(),
        delay: config.delay,
        canHold: redis !== null || !lifecycle.shuttingDown
      })
      try {
        await apply(decision, packet, death, epoch)
      } catch (err) {
        return await refuse(err as VigilError)
      }
      // Going out. Published with the dead node's brokerId, Aedes would give it this node's
      // message counter under that id, and each subscriber's duplicate filter (client.js
      // dedupe), having seen the dead node's higher counters, would silently drop it. So it
      // leaves persistence now and goes out as this node's message; Aedes' delWill after the
      // publish then finds nothing, and no sweep sees it again.
      await persistence().delWill({ id: clientId, brokerId })
      const out = packet as { brokerId?: string, brokerCounter?: number }
      delete out.brokerId
      delete out.brokerCounter
    }

    // ---- pending (delayed) wills ----
    const publishHeld = async (will: HeldWill): Promise<void> => {
      const decision = decideDue(will.epoch, liveness.currentEpoch(will.clientId))
      if (decision.action === 'suppress') {
        metrics.suppressed(decision.cause)
        return
      }
      await publishAsync(broker, { cmd: 'publish', topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false })
      metrics.published(will.reason)
    }

    const poll = async (): Promise<void> => {
      if (polling || closed) return
      polling = true
      try {
        for (const will of await store.takeDue(ctx.now())) {
          await publishHeld(will).catch((err: unknown) => ctx.reportError(err, 'publishing a held will failed'))
        }
      } catch (err) {
        ctx.reportError(err, 'polling pending wills failed')
      } finally {
        polling = false
        schedule()
      }
    }

    /** Memory: one timer at the earliest due time. Redis: a poll, since any node's will may fall due. */
    function schedule (): void {
      if (closed) return
      if (timer !== null) clearTimeout(timer)
      timer = null
      let wait: number
      if (redis !== null) {
        if (config.delay <= 0) return
        wait = Math.max(POLL_MIN_MS, Math.min(POLL_MAX_MS, Math.floor(config.delay / 4)))
      } else {
        const next = store.nextDue()
        if (next === undefined) return
        wait = Math.max(POLL_MIN_MS, next - ctx.now())
      }
      timer = setTimeout(() => { void poll() }, wait)
      timer.unref()
    }

    // A reconnect of the same clientId (any node: the 'client' event fires where it connects) cancels its pending will.
    if (config.delay > 0) {
      ctx.on('client', (client) => {
        const epoch = liveness.epochOf(client)
        store.cancel(client.id, epoch).then((cancelled) => {
          if (cancelled !== undefined) {
            metrics.suppressed('reconnected')
            log.debug({ clientId: client.id }, 'pending will cancelled by reconnect')
          }
        }, (err: unknown) => ctx.reportError(err, 'cancelling a pending will failed'))
      })
    }

    // Takeover from another node: Aedes closes our client on `$SYS/<other>/new/clients`.
    // Registered before Aedes' own listener (setup runs before broker.listen()), and the
    // will only passes authorizePublish after an asynchronous unsubscribe, so this mark is first.
    const mq = (broker as unknown as { mq: { on(topic: string, fn: (p: { topic: string, payload: Buffer }, done: () => void) => void): void } }).mq
    mq.on('$SYS/+/new/clients', (packet, done) => {
      const serverId = packet.topic.split('/')[1]
      const existing = serverId !== nodeId ? clients()[packet.payload.toString()] : undefined
      if (existing !== undefined) takenOver.set(existing, REMOTE)
      done()
    })

    const stopRecovery = cluster.onNodeLost((lost) => {
      if (redis === null || closed) return
      const started = ctx.now()
      // One survivor recovers the lost node's wills: with every survivor walking all of them
      // (each will then claimed by one), 5,000 wills took 5.5 s on a loaded machine and broke
      // the 15 s bound. The claim lapses after 3 beats, as the node could be lost again by then;
      // should the claimant die midway, Aedes' own will sweep on the last node publishes the rest.
      redis.set(`vigil:wills:node-lost:${lost}`, nodeId, 'PX', 3 * cluster.heartbeatMs, 'NX').then(async (claimed) => {
        if (claimed !== 'OK') return
        const count = await recoverWillsOf(broker, lost, (err) => ctx.reportError(err, 'recovering a will failed'), redis)
        log.info({ lostNode: lost, published: count, ms: ctx.now() - started }, 'recovered wills of a lost node')
      }).catch((err: unknown) => ctx.reportError(err, 'recovering wills of a lost node failed'))
    })

    // Same-node takeover: Aedes stores the new will, then closes the old client, whose close
    // deletes the stored will by (clientId, node): the new one. aedes-persistence-redis's
    // delWill reads before it deletes, so no write issued meanwhile is safe. Hence the delete
    // is watched: once it has completed, a newer connection of that id here (one that took
    // over) gets its will stored again, so a crash of this node still recovers it.
    const tookOver = new WeakSet<Client>()
    const restoreAfterTakeover = (): void => {
      const store = persistence()
      const delWill = store.delWill.bind(store)
      store.delWill = async (who) => {
        const result = await delWill(who)
        const current = who.brokerId === nodeId ? clients()[who.id] : undefined
        const will = current === undefined ? undefined : (current as unknown as ClientInternals).will
        if (current !== undefined && tookOver.has(current) && !(current as unknown as ClientInternals).closed && will != null) {
          tookOver.delete(current)
          await store.putWill(current, will).catch((err: unknown) => ctx.reportError(err, 'storing the will again after a takeover failed'))
        }
        return result
      }
    }

    return {
      async beforeListen () {
        restoreAfterTakeover()
        // Redis mode: wills stored under this node id by a previous run that crashed (SIGKILL,
        // OOM) are never swept by Aedes, since this id looks alive again: publish them now,
        // node_lost, before any client of this run can store a will under the same id.
        if (redis === null) return
        const count = await recoverWillsOf(broker, nodeId, (err) => ctx.reportError(err, 'recovering a will of a previous run failed'))
        if (count > 0) log.info({ published: count }, 'published wills left by a previous run of this node')
      },

      authenticate (client) {
        // Same-node takeover: Aedes closes the old client inside registerClient [MQTT-3.1.4-2].
        const old = clients()[client.id]
        if (old !== undefined && old !== client) {
          takenOver.set(old, client as unknown as ClientInternals)
          tookOver.add(client)
        }
        // Tag the will with this connection's epoch: it is stored with it (putWill) and comes
        // back with a lost node's wills, so a stale one can be told apart.
        const will = (client as unknown as ClientInternals)._will
        const epoch = liveness.epochOf(client)
        if (will !== null && will !== undefined && epoch !== undefined) will.vigilEpoch = epoch
        // Redis mode, after liveness took the new epoch: a will of the previous connection that
        // another node is publishing right now goes out before this CONNACK (publish-fence.ts).
        if (fence !== null) return fence.waitClear(client.id).catch((err: unknown) => ctx.reportError(err, 'will publish fence check failed'))
      },

      published (packet, client) {
        // The fenced will is out (in Redis mode emit completes after Redis fanned it out).
        if (fence === null || client === null || !inFlight.has(packet as WillPacket)) return
        inFlight.delete(packet as WillPacket)
        fence.close(client.id).catch((err: unknown) => ctx.reportError(err, 'releasing the will publish fence failed'))
      },

      authorizePublish (client, packet) {
        const p = packet as WillPacket
        if (client !== null && p === (client as unknown as ClientInternals).will) return onLocalWill(client, p)
        // Hot path: a client's PUBLISH carries neither field.
        if (p.brokerId === undefined || p.clientId === undefined) return
        // The shutdown path takes the will off the client before authorizing it.
        if (client !== null && p.brokerId === nodeId && p.clientId === client.id) return onLocalWill(client, p)
        return onRecoveredWill(p as WillPacket & { clientId: string, brokerId: string })
      },

      start () {
        // Redis mode: pending wills of a previous run (or of any node) are picked up from here.
        schedule()
      },

      async beforeShutdown () {
        if (redis !== null) return
        for (const will of store.drain()) {
          await publishHeld(will).catch((err: unknown) => ctx.reportError(err, 'publishing a held will at shutdown failed'))
        }
      },

      close () {
        closed = true
        stopRecovery()
        if (timer !== null) clearTimeout(timer)
      }
    }
  }
})

export default willsPlugin
