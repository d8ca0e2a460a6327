/**
 * The liveness adapter (issue 3): feeds the pure core from Aedes' hooks and
 * events and answers the `liveness` service. The parts it wires, one concern
 * each: takeover.ts (takeover, detected once), connection-ends.ts (the one
 * owner of a connection's end and its `ended` fact), delayed-ends.ts with the
 * delay store (wills.delay), fleet-status.ts (the fleet view, this node's
 * statuses out, other nodes' in), node-loss.ts (connections that died with
 * their node), membership.ts (forgetting, the cross-node kick, decommission). Hot paths (authorizePublish, PINGREQ) touch a timestamp or two
 * and allocate nothing in the common case.
 */
import type { Client, PublishPacket } from 'aedes'
import { closeWithReason, connectWill, errorKeepsConnection, isClosed, liveClient, liveClients, pendingWill, persistenceOf } from '../../broker/aedes/index.js'
import { ConnackCode, ConnectRefused, VigilError } from '../../broker/errors.js'
import type { PluginContext, PluginHooks } from '../../broker/plugin-types.js'
import type { ScheduledTask } from '../../broker/scheduler.js'
import type { VigilConfig } from '../../config/schema.js'
import { Connection, connectionOf, trackConnection } from './connection.js'
import { ConnectionEnds } from './connection-ends.js'
import { LivenessCore, type Decision } from './core.js'
import { DelayedEnds } from './delayed-ends.js'
import { memoryDelayStore } from './delay-store-memory.js'
import { redisDelayStore } from './delay-store-redis.js'
import { memoryEpochs, redisEpochs, type EpochSource } from './epochs.js'
import { FleetStatus } from './fleet-status.js'
import { Membership } from './membership.js'
import { registerLivenessMetrics, type LivenessMetrics } from './metrics.js'
import { NodeLoss } from './node-loss.js'
import { announcedInterval, LivenessRules } from './rules.js'
import type { ClientKind, ClientStatus, ConnectionEnd, ConnectionEnded, DelayedWill, DelayedWillHandler, EndedListener, LivenessService, LivenessState, OfflineReason, StatusExtension, TransitionListener } from './service.js'
import { StatusPublisher } from './status-publisher.js'
import { StatusTopic } from './status-topic.js'
import { markLocalTakeover, watchRemoteTakeovers } from './takeover.js'

/** Sweep period (ms): `silent` is detected within silentAfter + 2 x this. */
export const SWEEP_MS = 250

type Config = VigilConfig['liveness']

export class LivenessAdapter implements LivenessService {
  readonly #ctx: PluginContext<Config>
  readonly #topic: StatusTopic
  readonly #rules: LivenessRules
  readonly #core: LivenessCore
  readonly #epochs: EpochSource
  readonly #publisher: StatusPublisher
  readonly #fleet: FleetStatus
  readonly #delayed: DelayedEnds
  readonly #ends: ConnectionEnds
  readonly #nodeLoss: NodeLoss
  readonly #membership: Membership
  readonly #metrics: LivenessMetrics
  readonly #decisions: Decision[] = []
  #sweeping: ScheduledTask | null = null

  constructor (ctx: PluginContext<Config>) {
    this.#ctx = ctx
    const { config, scheduler, broker, nodeId } = ctx
    const reportError = (err: unknown, what: string): void => ctx.reportError(err, what)
    const lifecycle = ctx.need('lifecycle')
    this.#topic = new StatusTopic(config.statusTopic)
    this.#rules = new LivenessRules(config, config.rules)
    this.#core = new LivenessCore({ kickSilentAfter: config.kickSilentAfter, resolutionMs: SWEEP_MS }, scheduler.now())
    this.#epochs = ctx.redis !== null ? redisEpochs(ctx.redis) : memoryEpochs()
    this.#publisher = new StatusPublisher(broker, this.#epochs, reportError)
    this.#fleet = new FleetStatus({ broker, nodeId, topic: this.#topic, epochs: this.#epochs, publisher: this.#publisher, metrics: () => this.#metrics, reportError })
    this.#metrics = registerLivenessMetrics(ctx.metrics, () => this.#fleet.view.counts())
    const delay = ctx.vigil.wills.delay
    this.#delayed = new DelayedEnds({
      store: ctx.redis !== null ? redisDelayStore(ctx.redis) : memoryDelayStore(),
      scheduler,
      delay,
      shared: ctx.redis !== null,
      // A delayed status whose client came back meanwhile stays unpublished.
      releaseStatus: ({ status, topic }) => {
        if (this.currentEpoch(status.clientId) > status.epoch) return
        this.#fleet.emit(status, topic)
      },
      reportError
    })
    this.#ends = new ConnectionEnds({
      nodeId,
      scheduler,
      core: this.#core,
      fleet: this.#fleet,
      delayed: this.#delayed,
      delay,
      shuttingDown: () => lifecycle.shuttingDown || broker.closed,
      reportError
    })
    this.#nodeLoss = new NodeLoss({ broker, nodeId, redis: ctx.redis, scheduler, cluster: ctx.maybe('cluster'), fleet: this.#fleet })
    this.#membership = new Membership({
      broker,
      nodeId,
      redis: ctx.redis,
      subscriber: ctx.redis !== null ? ctx.redisConnection('liveness-kick') : null,
      scheduler,
      liveness: this,
      forgetAfter: config.forgetAfter,
      statusTopicOf: (clientId) => this.#topic.topicOf(clientId),
      reportError
    })
  }

  /** The decommission service (DELETE /api/devices/{clientId}). */
  get decommission (): Membership['decommission'] { return this.#membership.decommission }

  /** Wire events and internal subscriptions; called from setup, before the broker listens. */
  attach (): PluginHooks {
    const ctx = this.#ctx
    const { broker, scheduler } = ctx
    ctx.on('client', (client) => this.#registered(client))
    ctx.on('clientDisconnect', (client) => {
      if (connectionOf(client)?.registered === true) this.#ends.end(client)
    })
    ctx.on('clientError', (client, err) => {
      // A refused MQTT 5 PUBLISH (0x87 PUBACK) keeps the connection: not why it ends.
      if (errorKeepsConnection(client, err)) return
      const conn = connectionOf(client)
      if (conn !== undefined && conn.error === null) conn.error = err
    })
    ctx.on('keepaliveTimeout', (client) => {
      const conn = connectionOf(client)
      if (conn !== undefined) conn.keepaliveExpired = true
    })
    ctx.on('ping', (_packet, client) => {
      const conn = connectionOf(client)
      if (conn === undefined) return
      conn.lastPing = scheduler.now()
      this.#core.packet(conn, conn.lastPing)
    })
    // Any packet from the client proves the connection, not the application.
    const packetSeen = (client: Client): void => {
      const conn = connectionOf(client)
      if (conn !== undefined) this.#core.packet(conn, scheduler.now())
    }
    ctx.on('ack', (_packet, client) => packetSeen(client))
    ctx.on('subscribe', (_subscriptions, client) => packetSeen(client))
    ctx.on('unsubscribe', (_unsubscriptions, client) => packetSeen(client))
    watchRemoteTakeovers(broker, ctx.nodeId, () => scheduler.now())
    broker.subscribe(this.#topic.filter, (packet, done) => {
      // This node's own statuses are in the view already (FleetStatus.emit): skip them before
      // JSON.parse, by the publishing broker's id. A storm sends thousands back to us.
      // Empty payloads (clears) still go through: forgetting relies on them.
      if (packet.brokerId === broker.id && packet.payload.length > 0) return done()
      try { this.#fleet.received(packet.topic, packet.payload, false) } catch (err) { ctx.reportError(err, 'status message ignored') }
      done()
    }, () => {})
    const cluster = ctx.maybe('cluster')
    cluster?.onNodeLost((node, lastSeen) => {
      this.#nodeLoss.nodeLost(node, lastSeen, cluster.heartbeatMs).catch((err) => ctx.reportError(err, 'node_lost statuses failed'))
    })
    this.#sweeping = scheduler.every(SWEEP_MS, () => {
      try { this.#sweep() } catch (err) { ctx.reportError(err, 'liveness sweep failed') }
    })
    return {
      authenticate: (client, username) => this.#authenticate(client, username),
      authorizePublish: (client, packet) => this.#authorizePublish(client, packet),
      start: () => this.#start(),
      beforeShutdown: () => this.#shutdown(),
      close: () => this.#close()
    }
  }

  // ---- service -----------------------------------------------------------

  get (clientId: string): ClientStatus | undefined { return this.#fleet.view.get(clientId) }
  list (state?: LivenessState, kind?: ClientKind | 'all'): ClientStatus[] { return this.#fleet.view.list(state, kind) }
  counts (): Record<LivenessState, number> { return this.#fleet.view.counts() }
  observers (): number { return this.#fleet.view.observers }

  extendStatus (extension: StatusExtension): () => void { return this.#fleet.extendStatus(extension) }

  refresh (clientId: string): boolean {
    const client = liveClient(this.#ctx.broker, clientId)
    const conn = client === undefined ? undefined : connectionOf(client)
    if (conn === undefined || !conn.registered || !conn.tracked || conn.state === 'offline' || isClosed(conn.client)) return false
    return this.#fleet.emit(this.#fleet.statusOf(conn), conn.topic)
  }

  onTransition (listener: TransitionListener): () => void { return this.#fleet.onTransition(listener) }

  onEnded (listener: EndedListener): () => void { return this.#ends.onEnded(listener) }

  endOf (client: Client): ConnectionEnd {
    return isClosed(client) ? this.#ends.end(client) : this.#ends.decide(client)
  }

  lostEnd (clientId: string, node: string, epoch: number | undefined): ConnectionEnded {
    return this.#nodeLoss.lostEnd(clientId, node, epoch)
  }

  async delayWill (end: { clientId: string, epoch: number | undefined, due: number }, will: DelayedWill): Promise<void> {
    await this.#delayed.delayWill(end.clientId, end.epoch, end.due, will)
  }

  handleDelayedWills (handler: DelayedWillHandler): void { this.#delayed.handleWills(handler) }

  epochOf (client: Client): number | undefined { return connectionOf(client)?.epoch }

  currentEpoch (clientId: string): number {
    return Math.max(this.#fleet.view.epoch(clientId), this.#epochs.latest(clientId))
  }

  async kick (clientId: string, reason: 'kicked' | 'silent_timeout' | 'rate_limited'): Promise<boolean> {
    const client = liveClient(this.#ctx.broker, clientId)
    if (client === undefined) return false
    return await this.#kickClient(client, reason)
  }

  async forget (clientId: string): Promise<void> {
    const topic = this.#fleet.view.topicOf(clientId) ?? this.#topic.topicFor(clientId, undefined)
    this.#fleet.view.forget(clientId, this.currentEpoch(clientId))
    this.#delayed.cancel(clientId)
    await this.#publisher.publish(clientId, topic, Buffer.alloc(0), null)
  }

  forgetDue (now: number): Promise<number> { return this.#membership.forgetDue(now) }

  kickEverywhere (clientId: string): Promise<boolean> { return this.#membership.kickEverywhere(clientId) }

  onKickRequested (listener: (clientId: string) => void): () => void { return this.#membership.onKickRequested(listener) }

  // ---- hooks -------------------------------------------------------------

  #authenticate (client: Client, username: string | undefined): void | Promise<void> {
    const clientId = client.id
    if (!this.#topic.representable(clientId, username)) {
      throw new ConnectRefused(ConnackCode.IDENTIFIER_REJECTED,
        `client id cannot be represented in ${this.#topic.template} (no '/', '+', '#' or NUL)`)
    }
    const will = connectWill(client)
    if (will != null && this.#topic.reserved(will.topic)) {
      throw new ConnectRefused(ConnackCode.NOT_AUTHORIZED, 'a will may not be published under the status topic')
    }
    const policy = this.#rules.policyFor(clientId, username)
    const assign = (epoch: number): void => {
      const now = this.#ctx.scheduler.now()
      const conn = new Connection(client, clientId, epoch, now, policy.silentAfter, policy.ruleThreshold, policy.track,
        this.#topic.topicFor(clientId, username), policy.isHeartbeat)
      // Issue 18 (docs/insights.md): no will, no rule and not known as a device: an observer until its first heartbeat.
      conn.observer = !policy.matched && will == null && this.#fleet.view.get(clientId)?.kind !== 'device'
      trackConnection(client, conn)
      markLocalTakeover(this.#ctx.broker, conn, now)
    }
    const epoch = this.#epochs.next(clientId)
    if (typeof epoch === 'number') return assign(epoch)
    return epoch.then(assign)
  }

  /**
   * The one per-PUBLISH hook: refuses the broker's status space, stamps the
   * packet and counts the heartbeat. Counting here rather than in `published`
   * saves a second hook call per message (two empty hooks cost 1.7 % of QoS 0
   * fan-in with bound calls, about 0.7 % since the host calls them unbound:
   * `liveness-overhead.js ... empty-hooks`, bench/RESULTS.md). Liveness is registered before
   * any plugin that may refuse a publish; a PUBLISH another plugin refuses
   * still shows the device's application is running.
   */
  #authorizePublish (client: Client | null, packet: PublishPacket): void {
    if (client === null) return
    if (this.#topic.reserved(packet.topic)) {
      throw new VigilError('VIGIL_E_PUBLISH_REFUSED', `${packet.topic}: the status topic space belongs to the broker`)
    }
    // A closing client's publish is its will, passing before clientDisconnect: the end is decided
    // now (announced to the wills plugin, next in the chain), not a packet or a heartbeat.
    if (isClosed(client)) {
      this.#ends.end(client, packet)
      return
    }
    const conn = connectionOf(client)
    if (conn === undefined) return
    const now = this.#ctx.scheduler.now()
    conn.lastPacket = now
    if (!conn.tracked || conn.state === 'offline' || !conn.isHeartbeat(packet.topic)) return
    if (conn.heartbeats > 0) this.#metrics.heartbeatInterval((now - conn.lastHeartbeat) / 1000)
    if (this.#core.heartbeat(conn, now) !== null) this.#fleet.emit(this.#fleet.statusOf(conn), conn.topic)
    const interval = announcedInterval(packet.payload)
    if (interval !== null) this.#core.announce(conn, interval, now)
  }

  async #start (): Promise<void> {
    for await (const packet of persistenceOf(this.#ctx.broker).createRetainedStream(this.#topic.filter)) {
      this.#fleet.received(packet.topic, packet.payload, true)
    }
    this.#nodeLoss.recoverOwnStatuses()
    this.#delayed.start()
    await this.#membership.start()
  }

  async #shutdown (): Promise<void> {
    const now = this.#ctx.scheduler.now()
    for (const client of liveClients(this.#ctx.broker)) {
      const conn = connectionOf(client)
      if (conn === undefined || !conn.registered) continue
      conn.mark('server_shutdown', now)
      this.#ends.end(client, pendingWill(client))
    }
    await this.#delayed.releaseAll()
    // The host bounds every plugin's beforeShutdown (broker/server.ts): no timer of our own.
    await this.#publisher.idle()
  }

  #close (): void {
    this.#sweeping?.cancel()
    this.#sweeping = null
    this.#delayed.close()
    this.#membership.stop()
  }

  // ---- events ------------------------------------------------------------

  #registered (client: Client): void {
    const conn = connectionOf(client)
    if (conn === undefined) return
    conn.registered = true
    // A reconnect within wills.delay: the delayed offline status and will never go out.
    this.#delayed.cancel(conn.clientId, conn.epoch)
    if (!conn.tracked) return
    this.#core.open(conn, this.#ctx.scheduler.now())
    this.#fleet.emit(this.#fleet.statusOf(conn), conn.topic)
  }

  #sweep (): void {
    const decisions = this.#decisions
    decisions.length = 0
    this.#core.sweep(this.#ctx.scheduler.now(), decisions)
    for (const decision of decisions) {
      if ('kick' in decision) {
        const conn = decision.kick as Connection
        if (liveClient(this.#ctx.broker, conn.clientId) === conn.client) {
          this.#kickClient(conn.client, 'silent_timeout').catch((err) => this.#ctx.reportError(err, 'kick failed'))
        }
        continue
      }
      const conn = decision.conn as Connection
      // Closed but its clientDisconnect is still to come (or never will): end it here.
      if (isClosed(conn.client)) this.#ends.end(conn.client)
      else this.#fleet.emit(this.#fleet.statusOf(conn), conn.topic)
    }
    decisions.length = 0
  }

  async #kickClient (client: Client, reason: OfflineReason): Promise<boolean> {
    if (isClosed(client)) return false
    connectionOf(client)?.mark(reason, this.#ctx.scheduler.now())
    // MQTT 5 clients are told why (DISCONNECT 0x96 for rate_limited, 0x98 otherwise).
    await new Promise<void>((resolve) => closeWithReason(client, reason, resolve))
    return true
  }
}
