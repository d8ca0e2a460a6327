/**
 * What to do with a will the broker is about to publish. Pure: the adapter
 * gathers the facts (from the liveness service, the cluster and its own
 * takeover tracking) and applies the decision.
 *
 * A will is never published for a connection that a newer one replaced
 * (docs/topics-and-payloads.md): not on takeover, not when the client's epoch
 * moved on (a takeover seen from another node, the stale will that
 * aedes-persistence-redis can leave after a quick reconnect), not when a lost
 * node's client is already connected elsewhere.
 */

export const SUPPRESS_CAUSES = ['takeover', 'stale_epoch', 'reconnected', 'duplicate'] as const
export type SuppressCause = typeof SUPPRESS_CAUSES[number]

export interface WillFacts {
  /** Epoch of the connection the will belongs to, if known. */
  willEpoch: number | undefined
  /** Newest epoch known for the clientId, cluster-wide (0 if unknown). */
  currentEpoch: number
  /** Why the connection ended. */
  reason: string
  /** A newer connection of the same clientId is replacing this one (seen by this node). */
  takenOver: boolean
  /** The client is connected again (recovered wills: on a node other than the dead one). */
  connectedElsewhere: boolean
  /** Time of death and now (ms). */
  at: number
  now: number
  /** wills.delay (ms). */
  delay: number
  /** Whether a delayed will can outlive this moment (false: memory mode while shutting down). */
  canDelay: boolean
}

export type WillDecision =
  | { action: 'publish' }
  | { action: 'delay', due: number }
  | { action: 'suppress', cause: SuppressCause }

export function decideWill (f: WillFacts): WillDecision {
  if (f.reason === 'takeover' || f.takenOver) return { action: 'suppress', cause: 'takeover' }
  if (f.willEpoch !== undefined && f.currentEpoch > f.willEpoch) return { action: 'suppress', cause: 'stale_epoch' }
  if (f.connectedElsewhere) return { action: 'suppress', cause: 'reconnected' }
  // The delay runs from the time of death, so a lost node's wills (noticed
  // >= 12 s late) are only delayed for what is left of it.
  const due = f.at + f.delay
  if (f.delay > 0 && f.canDelay && due > f.now) return { action: 'delay', due }
  return { action: 'publish' }
}

/** A held will that fell due: publish it unless the client came back meanwhile. */
export function decideDue (heldEpoch: number | undefined, currentEpoch: number): WillDecision {
  if (heldEpoch !== undefined && currentEpoch > heldEpoch) return { action: 'suppress', cause: 'reconnected' }
  return { action: 'publish' }
}
