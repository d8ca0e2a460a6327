/**
 * Wills of this node's connections, from the `ended` fact liveness announces
 * (plugins/liveness/connection-ends.ts): the end names the will the
 * connection leaves, and here it is decided (decide.ts: suppressed after a
 * takeover or an older epoch, delayed for wills.delay, or published), stamped
 * and, in Redis mode, fenced against a reconnect on another node
 * (publish-fence.ts). Liveness announces the end as the will enters
 * authorizePublish (or earlier: the sweep, shutdown), so the decision waits
 * here, keyed by the will packet, until the wills hook sees that packet.
 */
import { willDelayOf, type WillPacket } from '../../broker/aedes/index.js'
import type { Scheduler } from '../../broker/scheduler.js'
import type { ConnectionEnded, LivenessService } from '../liveness/service.js'
import { decideWill, type WillDecision } from './decide.js'
import type { PublishFence } from './publish-fence.js'
import type { Death } from './stamp.js'
import type { WillOutcome } from './will-outcome.js'

export interface LocalWillsDeps {
  liveness: LivenessService
  outcome: WillOutcome
  fence: PublishFence | null
  scheduler: Scheduler
  /** wills.delay (ms). */
  delay: number
  /** Whether a delayed will outlives this moment (false: memory mode while shutting down). */
  canDelay(): boolean
  reportError(err: unknown, what: string): void
}

export class LocalWills {
  readonly #deps: LocalWillsDeps
  /** Will packet -> its decision, made when liveness announced the end. */
  readonly #decided = new WeakMap<WillPacket, () => void | Promise<void>>()
  /** Fenced wills on their way out: the fence opens again once each is published. */
  readonly #inFlight = new WeakSet<WillPacket>()

  constructor (deps: LocalWillsDeps) {
    this.#deps = deps
  }

  /** The `ended` listener. */
  ended (end: ConnectionEnded): void {
    const { will } = end
    if (!end.local || will === null) return
    this.#decided.set(will, () => this.#decide(end, will))
  }

  /** The wills hook saw `packet` from a closing client: its decision, or undefined if it is not a will of an announced end. */
  decisionFor (packet: WillPacket): (() => void | Promise<void>) | undefined {
    const run = this.#decided.get(packet)
    if (run !== undefined) this.#decided.delete(packet)
    return run
  }

  /** At CONNECT (Redis mode): a will of the previous connection another node is publishing goes out first. */
  waitClear (clientId: string): void | Promise<void> {
    return this.#deps.fence?.waitClear(clientId).catch((err: unknown) => this.#deps.reportError(err, 'will publish fence check failed'))
  }

  /** `published`: a fenced will is out (in Redis mode emit completes after Redis fanned it out). */
  published (packet: WillPacket, clientId: string): void {
    const fence = this.#deps.fence
    if (fence === null || !this.#inFlight.has(packet)) return
    this.#inFlight.delete(packet)
    fence.close(clientId).catch((err: unknown) => this.#deps.reportError(err, 'releasing the will publish fence failed'))
  }

  #decide (end: ConnectionEnded, packet: WillPacket): void | Promise<void> {
    const { liveness, scheduler } = this.#deps
    const death: Death = { clientId: end.clientId, reason: end.reason, at: end.at, lastSeen: end.lastHeartbeat }
    const decision = decideWill({
      willEpoch: end.epoch,
      currentEpoch: liveness.currentEpoch(end.clientId),
      reason: end.reason,
      takenOver: end.displacedBy !== null,
      connectedElsewhere: false,
      at: end.at,
      now: scheduler.now(),
      // MQTT 5: the client's own Will Delay Interval (bounded by its session) instead of wills.delay [MQTT-3.1.3-9].
      delay: (end.client === null ? undefined : willDelayOf(end.client)) ?? this.#deps.delay,
      canDelay: this.#deps.canDelay()
    })
    return this.#fenced(end.clientId, end.epoch, decision, packet, death)
  }

  /**
   * Redis mode: a will about to go out passes the publish fence, which
   * suppresses it if a newer epoch exists and otherwise delays a reconnect
   * elsewhere until it is out (released in `published`). Memory mode has one
   * node: nothing to order.
   */
  #fenced (clientId: string, epoch: number, decision: WillDecision, packet: WillPacket, death: Death): void | Promise<void> {
    const { fence, outcome } = this.#deps
    if (fence === null || decision.action !== 'publish') return outcome.apply(decision, packet, death, epoch)
    return fence.open(clientId, epoch).then((open) => {
      if (!open) return outcome.apply({ action: 'suppress', cause: 'stale_epoch' }, packet, death, epoch)
      this.#inFlight.add(packet)
      return outcome.apply(decision, packet, death, epoch)
    }, (err: unknown) => {
      // Redis is unreachable: publishing the will beats losing it.
      this.#deps.reportError(err, 'will publish fence unavailable; publishing unfenced')
      return outcome.apply(decision, packet, death, epoch)
    })
  }
}
