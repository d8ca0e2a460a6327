/**
 * The statuses of the fleet as this node sees them: this node's own
 * transitions (accepted into the fleet view, counted, told to listeners and
 * published retained) and other nodes' status messages (accepted into the
 * view). A status from an older epoch never replaces a newer one.
 */
import type { Aedes } from 'aedes'
import { liveClient } from '../../broker/aedes/index.js'
import { connectionOf, type Connection } from './connection.js'
import type { EpochSource } from './epochs.js'
import { FleetView } from './fleet-view.js'
import type { LivenessMetrics } from './metrics.js'
import type { ClientStatus, StatusExtension, TransitionListener } from './service.js'
import { parseStatus, statusOf, StatusExtensions } from './status.js'
import type { StatusPublisher } from './status-publisher.js'
import type { StatusTopic } from './status-topic.js'

export interface FleetStatusDeps {
  broker: Aedes
  nodeId: string
  topic: StatusTopic
  epochs: EpochSource
  publisher: StatusPublisher
  metrics: () => LivenessMetrics
  reportError(err: unknown, what: string): void
}

export class FleetStatus {
  readonly view = new FleetView()
  readonly #deps: FleetStatusDeps
  readonly #listeners = new Set<TransitionListener>()
  readonly #extensions = new StatusExtensions()

  constructor (deps: FleetStatusDeps) {
    this.#deps = deps
  }

  onTransition (listener: TransitionListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  extendStatus (extension: StatusExtension): () => void { return this.#extensions.add(extension) }

  /** A connection's status with what the extensions add (plugins/insights). */
  statusOf (conn: Connection): ClientStatus {
    return this.#extensions.apply(statusOf(conn, this.#deps.nodeId), conn.client, (err, what) => this.#deps.reportError(err, what))
  }

  /**
   * Accept a status of ours into the view, count it, tell listeners and publish
   * it. Observers are counted nowhere, and their statuses are published live
   * but not retained: a one-shot `mosquitto_sub` leaves no offline status behind.
   */
  emit (status: ClientStatus, topic: string): boolean {
    const accepted = this.view.accept(status, topic)
    if (accepted === null) return false
    const previous = accepted.previous
    const appeared = previous === undefined || previous.kind === 'observer'
    if (status.kind === 'device' && (appeared || previous.state !== status.state || previous.epoch !== status.epoch)) {
      this.#deps.metrics().transition(appeared ? 'none' : previous.state, status.state)
    }
    this.#notify(status, previous, true)
    const observer = status.kind === 'observer'
    void this.#deps.publisher.publish(status.clientId, topic, Buffer.from(JSON.stringify(status)),
      status.state === 'offline' ? status.epoch : null, !observer)
    if (observer && status.state === 'offline') this.view.forget(status.clientId, status.epoch)
    return true
  }

  /** A status message (another node's, or a stored one at start-up). */
  received (topic: string, payload: Buffer | string, stored: boolean): void {
    if (payload.length === 0) {
      const clientId = this.#deps.topic.clientIdOf(topic)
      if (clientId !== null) this.view.forget(clientId)
      return
    }
    const status = parseStatus(payload)
    if (status === null) return
    // Our own live statuses are in the view already; one another node released for us (a
    // delayed end, delayed-ends.ts) names a connection that is no longer here.
    if (!stored && status.node === this.#deps.nodeId && this.#stillHere(status)) return
    this.#deps.epochs.learn(status.clientId, status.epoch)
    const accepted = this.view.accept(status, topic)
    if (accepted === null) return
    this.#notify(status, accepted.previous, false)
    if (status.kind === 'observer' && status.state === 'offline') this.view.forget(status.clientId, status.epoch)
  }

  #stillHere (status: ClientStatus): boolean {
    const client = liveClient(this.#deps.broker, status.clientId)
    return client !== undefined && connectionOf(client)?.epoch === status.epoch
  }

  #notify (status: ClientStatus, previous: ClientStatus | undefined, local: boolean): void {
    for (const listener of this.#listeners) {
      try { listener(status, previous, local) } catch (err) { this.#deps.reportError(err, 'transition listener failed') }
    }
  }
}
