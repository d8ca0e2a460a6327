/**
 * The liveness adapter (issue 3): feeds the pure core from Aedes' hooks and
 * events, publishes each transition as a retained status, keeps the fleet view
 * (this node's transitions and other nodes' status messages) and answers the
 * `liveness` service. Hot paths (authorizePublish, PINGREQ) touch a timestamp
 * or two and allocate nothing in the common case.
 */
import type { AedesPublishPacket, Client, PublishPacket } from 'aedes'
import type { ClusterService } from '../../broker/cluster.js'
import { ConnackCode, ConnectRefused, VigilError } from '../../broker/errors.js'
import type { PluginContext, PluginHooks } from '../../broker/plugin-types.js'
import type { ScheduledTask } from '../../broker/scheduler.js'
import type { Lifecycle } from '../../broker/services.js'
import type { VigilConfig } from '../../config/schema.js'
import { connectWill, isClosed, liveClient, liveClients, persistenceOf } from '../../broker/aedes/index.js'
import { Connection, connectionEnd, connectionOf, CONNECTION } from './connection.js'
import { LivenessCore, type Decision } from './core.js'
import { memoryEpochs, redisEpochs, type EpochSource } from './epochs.js'
import { FleetView } from './fleet-view.js'
import { Holds, type Hold } from './holds.js'
import { registerLivenessMetrics, type LivenessMetrics } from './metrics.js'
import { announcedInterval, LivenessRules } from './rules.js'
import type { ClientKind, ClientStatus, ConnectionEnd, LivenessService, LivenessState, OfflineReason, StatusExtension, TransitionListener } from './service.js'
import { parseStatus, statusOf, StatusExtensions } from './status.js'
import { StatusPublisher } from './status-publisher.js'
import { StatusTopic } from './status-topic.js'

/** Sweep period (ms): `silent` is detected within silentAfter + 2 x this. */
export const SWEEP_MS = 250

type Config = VigilConfig['liveness']
type Packet = Pick<AedesPublishPacket, 'topic' | 'payload' | 'brokerId'>

export class LivenessAdapter implements LivenessService {
  readonly #ctx: PluginContext<Config>
  readonly #topic: StatusTopic
  readonly #rules: LivenessRules
  readonly #core: LivenessCore
  readonly #holds: Holds
  readonly #view = new FleetView()
  readonly #epochs: EpochSource
  readonly #publisher: StatusPublisher
  readonly #metrics: LivenessMetrics
  readonly #lifecycle: Lifecycle
  readonly #delay: number
  readonly #listeners = new Set<TransitionListener>()
  readonly #extensions = new StatusExtensions()
  readonly #decisions: Decision[] = []
  #sweeping: ScheduledTask | null = null

  constructor (ctx: PluginContext<Config>) {
    this.#ctx = ctx
    const config = ctx.config
    const now = ctx.scheduler.now()
    this.#topic = new StatusTopic(config.statusTopic)
    this.#rules = new LivenessRules(config, config.rules)
    this.#core = new LivenessCore({ kickSilentAfter: config.kickSilentAfter, resolutionMs: SWEEP_MS }, now)
    this.#holds = new Holds(SWEEP_MS, now)
    this.#epochs = ctx.redis !== null ? redisEpochs(ctx.redis) : memoryEpochs()
    this.#publisher = new StatusPublisher(ctx.broker, this.#epochs, (err, what) => ctx.reportError(err, what))
    this.#metrics = registerLivenessMetrics(ctx.metrics, () => this.#view.counts())
    this.#lifecycle = ctx.need('lifecycle')
    this.#delay = ctx.vigil.wills.delay
  }

  /** Wire events and internal subscriptions; called from setup, before the broker listens. */
  attach (): PluginHooks {
    const ctx = this.#ctx
    const broker = ctx.broker
    ctx.on('client', (client) => this.#registered(client))
    ctx.on('clientDisconnect', (client) => this.#disconnected(client))
    ctx.on('clientError', (client, err) => {
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
      conn.lastPing = ctx.scheduler.now()
      this.#core.packet(conn, conn.lastPing)
    })
    // Any packet from the client proves the connection, not the application.
    const packetSeen = (client: Client): void => {
      const conn = connectionOf(client)
      if (conn !== undefined) this.#core.packet(conn, ctx.scheduler.now())
    }
    ctx.on('ack', (_packet, client) => packetSeen(client))
    ctx.on('subscribe', (_subscriptions, client) => packetSeen(client))
    ctx.on('unsubscribe', (_unsubscriptions, client) => packetSeen(client))
    // Registered before Aedes' own listener (broker.listen() comes later), so a
    // client taken over from another node is marked before Aedes closes it.
    broker.subscribe('$SYS/+/new/clients', (packet: AedesPublishPacket, done: () => void) => {
      this.#takenOverElsewhere(packet)
      done()
    }, () => {})
    broker.subscribe(this.#topic.filter, (packet: AedesPublishPacket, done: () => void) => {
      // This node's own statuses are in the view already (#emit): skip them before
      // JSON.parse, by the publishing broker's id. A storm sends thousands back to us.
      // Empty payloads (clears) still go through: forgetting relies on them.
      if (packet.brokerId === broker.id && packet.payload.length > 0) return done()
      try { this.#received(packet.topic, packet.payload, false) } catch (err) { ctx.reportError(err, 'status message ignored') }
      done()
    }, () => {})
    const cluster = ctx.maybe('cluster')
    cluster?.onNodeLost((node, lastSeen) => {
      this.#nodeLost(node, lastSeen, cluster.heartbeatMs).catch((err) => ctx.reportError(err, 'node_lost statuses failed'))
    })
    this.#sweeping = ctx.scheduler.every(SWEEP_MS, () => {
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

  get (clientId: string): ClientStatus | undefined { return this.#view.get(clientId) }
  list (state?: LivenessState, kind?: ClientKind | 'all'): ClientStatus[] { return this.#view.list(state, kind) }
  counts (): Record<LivenessState, number> { return this.#view.counts() }
  observers (): number { return this.#view.observers }

  extendStatus (extension: StatusExtension): () => void { return this.#extensions.add(extension) }

  refresh (clientId: string): boolean {
    const client = liveClient(this.#ctx.broker, clientId)
    const conn = client === undefined ? undefined : connectionOf(client)
    if (conn === undefined || !conn.registered || !conn.tracked || conn.state === 'offline' || isClosed(conn.client)) return false
    return this.#emit(this.#statusOf(conn), conn.topic)
  }

  onTransition (listener: TransitionListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  endOf (client: Client): ConnectionEnd {
    return connectionEnd(client, this.#ctx.scheduler.now(), this.#lifecycle.shuttingDown || this.#ctx.broker.closed)
  }

  epochOf (client: Client): number | undefined { return connectionOf(client)?.epoch }

  currentEpoch (clientId: string): number {
    return Math.max(this.#view.epoch(clientId), this.#epochs.latest(clientId))
  }

  async kick (clientId: string, reason: 'kicked' | 'silent_timeout' | 'rate_limited'): Promise<boolean> {
    const client = liveClient(this.#ctx.broker, clientId)
    if (client === undefined) return false
    return await this.#kickClient(client, reason)
  }

  async forget (clientId: string): Promise<void> {
    const topic = this.#view.topicOf(clientId) ?? this.#topic.topicFor(clientId, undefined)
    this.#view.forget(clientId, this.currentEpoch(clientId))
    this.#holds.cancel(clientId)
    await this.#publisher.publish(clientId, topic, Buffer.alloc(0), null)
  }

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
      conn.observer = !policy.matched && will == null && this.#view.get(clientId)?.kind !== 'device'
      CONNECTION.set(client, conn)
      // [MQTT-3.1.4-2] Aedes closes the open connection of this clientId in
      // registerClient, publishing its will on the way: it is marked first.
      const old = liveClient(this.#ctx.broker, clientId)
      if (old !== undefined && old !== client) connectionOf(old)?.mark('takeover', now, conn)
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
    const conn = connectionOf(client)
    // A closing client's publish is its will: neither a packet from it nor a heartbeat.
    if (conn === undefined || isClosed(client)) return
    const now = this.#ctx.scheduler.now()
    conn.lastPacket = now
    if (!conn.tracked || conn.state === 'offline' || !conn.isHeartbeat(packet.topic)) return
    if (conn.heartbeats > 0) this.#metrics.heartbeatInterval((now - conn.lastHeartbeat) / 1000)
    if (this.#core.heartbeat(conn, now) !== null) this.#emit(this.#statusOf(conn), conn.topic)
    const interval = announcedInterval(packet.payload)
    if (interval !== null) this.#core.announce(conn, interval, now)
  }

  async #start (): Promise<void> {
    for await (const packet of persistenceOf(this.#ctx.broker).createRetainedStream(this.#topic.filter)) {
      this.#received(packet.topic, packet.payload, true)
    }
    this.#recoverOwnStatuses()
  }

  async #shutdown (): Promise<void> {
    const now = this.#ctx.scheduler.now()
    for (const client of liveClients(this.#ctx.broker)) {
      const conn = connectionOf(client)
      if (conn === undefined || !conn.registered) continue
      conn.mark('server_shutdown', now)
      const end = this.endOf(client)
      conn.end = end
      if (conn.tracked) this.#finish(conn, end)
    }
    for (const hold of this.#holds.drain()) this.#release(hold)
    // The host bounds every plugin's beforeShutdown (broker/server.ts): no timer of our own.
    await this.#publisher.idle()
  }

  #close (): void {
    this.#sweeping?.cancel()
    this.#sweeping = null
  }

  // ---- events ------------------------------------------------------------

  #registered (client: Client): void {
    const conn = connectionOf(client)
    if (conn === undefined) return
    conn.registered = true
    // A reconnect within wills.delay: the held offline never goes out.
    this.#holds.cancel(conn.clientId, conn.epoch)
    if (!conn.tracked) return
    this.#core.open(conn, this.#ctx.scheduler.now())
    this.#emit(this.#statusOf(conn), conn.topic)
  }

  #disconnected (client: Client): void {
    const conn = connectionOf(client)
    if (conn === undefined || !conn.registered || !conn.tracked) return
    this.#finish(conn, this.endOf(client))
  }

  #takenOverElsewhere (packet: Packet): void {
    const node = packet.topic.split('/')[1]
    if (node === this.#ctx.nodeId) return
    const local = liveClient(this.#ctx.broker, packet.payload.toString())
    if (local !== undefined) connectionOf(local)?.mark('takeover', this.#ctx.scheduler.now())
  }

  // ---- transitions ---------------------------------------------------------

  /** The connection ended: offline now, held for wills.delay, or nothing at all after a takeover. */
  #finish (conn: Connection, end: ConnectionEnd): void {
    if (this.#core.end(conn, end.reason, end.at) === null) return
    // The new epoch's `online` replaces it: no offline for a taken-over connection.
    if (end.reason === 'takeover') return
    const status = this.#statusOf(conn)
    // An observer has no will to hold back: its end goes out at once.
    if (this.#delay > 0 && end.reason !== 'server_shutdown' && !conn.observer) {
      this.#holds.hold(status, conn.topic, this.#ctx.scheduler.now() + this.#delay)
      return
    }
    this.#emit(status, conn.topic)
  }

  #release (hold: Hold): void {
    if (this.currentEpoch(hold.status.clientId) > hold.status.epoch) return
    this.#emit(hold.status, hold.topic)
  }

  /** A connection's status with what the extensions add (plugins/insights). */
  #statusOf (conn: Connection): ClientStatus {
    return this.#extensions.apply(statusOf(conn, this.#ctx.nodeId), conn.client, (err, what) => this.#ctx.reportError(err, what))
  }

  /**
   * Accept a status of ours into the view, count it, tell listeners and publish
   * it. Observers are counted nowhere, and their statuses are published live
   * but not retained: a one-shot `mosquitto_sub` leaves no offline status behind.
   */
  #emit (status: ClientStatus, topic: string): boolean {
    const accepted = this.#view.accept(status, topic)
    if (accepted === null) return false
    const previous = accepted.previous
    const appeared = previous === undefined || previous.kind === 'observer'
    if (status.kind === 'device' && (appeared || previous.state !== status.state || previous.epoch !== status.epoch)) {
      this.#metrics.transition(appeared ? 'none' : previous.state, status.state)
    }
    this.#notify(status, previous, true)
    const observer = status.kind === 'observer'
    void this.#publisher.publish(status.clientId, topic, Buffer.from(JSON.stringify(status)),
      status.state === 'offline' ? status.epoch : null, !observer)
    if (observer && status.state === 'offline') this.#view.forget(status.clientId, status.epoch)
    return true
  }

  #notify (status: ClientStatus, previous: ClientStatus | undefined, local: boolean): void {
    for (const listener of this.#listeners) {
      try { listener(status, previous, local) } catch (err) { this.#ctx.reportError(err, 'transition listener failed') }
    }
  }

  /** A status message (another node's, or a stored one at start-up). */
  #received (topic: string, payload: Buffer | string, stored: boolean): void {
    if (payload.length === 0) {
      const clientId = this.#topic.clientIdOf(topic)
      if (clientId !== null) {
        this.#view.forget(clientId)
        this.#holds.cancel(clientId)
      }
      return
    }
    const status = parseStatus(payload)
    // Our own live statuses are in the view already.
    if (status === null || (!stored && status.node === this.#ctx.nodeId)) return
    this.#epochs.learn(status.clientId, status.epoch)
    const accepted = this.#view.accept(status, topic)
    if (accepted === null) return
    this.#holds.cancel(status.clientId, status.epoch)
    this.#notify(status, accepted.previous, false)
    if (status.kind === 'observer' && status.state === 'offline') this.#view.forget(status.clientId, status.epoch)
  }

  #sweep (): void {
    const now = this.#ctx.scheduler.now()
    const decisions = this.#decisions
    decisions.length = 0
    this.#core.sweep(now, decisions)
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
      if (isClosed(conn.client)) this.#finish(conn, this.endOf(conn.client))
      else this.#emit(this.#statusOf(conn), conn.topic)
    }
    decisions.length = 0
    for (const hold of this.#holds.due(now)) this.#release(hold)
  }

  async #kickClient (client: Client, reason: OfflineReason): Promise<boolean> {
    if (isClosed(client)) return false
    connectionOf(client)?.mark(reason, this.#ctx.scheduler.now())
    await new Promise<void>((resolve) => client.close(() => resolve()))
    return true
  }

  /**
   * The cluster lost a node: its clients' connections died with it. One node
   * claims the loss (Redis SET NX) and publishes them offline, node_lost, since
   * the node's last heartbeat (docs/topics-and-payloads.md).
   */
  async #nodeLost (node: string, lastSeen: number, heartbeatMs: number): Promise<void> {
    if (this.#view.connectedOn(node).length === 0) return
    const redis = this.#ctx.redis
    if (redis !== null) {
      // The claim outlives the spread between nodes noticing the same loss (they check every
      // 250 ms, broker/cluster.ts) but not the 3 heartbeats it takes to lose the node again after it is back.
      const claimed = await redis.set(`vigil:liveness:node-lost:${node}`, this.#ctx.nodeId, 'PX', 3 * heartbeatMs, 'NX')
      if (claimed !== 'OK') return
    }
    this.#declareLost(node, lastSeen, () => false)
  }

  /** After a restart, statuses this node published before are stale unless the connection is back. */
  #recoverOwnStatuses (): void {
    const broker = this.#ctx.broker
    this.#declareLost(this.#ctx.nodeId, null, (status) => {
      const client = liveClient(broker, status.clientId)
      return client !== undefined && connectionOf(client)?.epoch === status.epoch
    })
  }

  #declareLost (node: string, lastSeen: number | null, alive: (status: ClientStatus) => boolean): void {
    for (const { status, topic } of this.#view.connectedOn(node)) {
      if (alive(status)) continue
      const reason: OfflineReason = 'node_lost'
      this.#emit({ ...status, state: 'offline', reason, since: lastSeen ?? status.lastPacket ?? status.since }, topic)
    }
  }
}
