/**
 * Bounds how deep the emitter may recurse into itself (issue 11: a reconnect
 * storm ended the process with `RangeError: Maximum call stack size exceeded`).
 *
 * What upstream does (mqemitter 7.1.0, the newest; mqemitter-redis inherits it):
 * at most `concurrency` messages are delivered at once, the rest wait in
 * `_messageQueue`. When a message's last subscriber calls done(), `released()`
 * takes the next queued message and calls `_do` on it, on the same stack. A
 * message whose subscribers all finish synchronously (the liveness plugin's own
 * `$liveness/+` subscription, a message nobody subscribes to, a QoS 0 delivery)
 * releases the next one from inside its own delivery, so a queue of such
 * messages is drained by recursion as deep as the queue is long. A storm of
 * 3,000 simultaneous closes queues a will and a status each behind the 100
 * slots that slow QoS 1 deliveries hold, and the drain overflows the stack.
 *
 * The fix, in one place: `_do` counts how many of its frames are on the stack.
 * Below MAX_DEPTH it runs as before (one increment and one decrement: no timer,
 * no allocation on the per-message path). At MAX_DEPTH it puts the message back
 * at the head of the emitter's own queue, holding its concurrency slot so nothing
 * overtakes it, and returns; the outermost `_do`, once its own delivery has
 * returned, releases those slots through the emitter's `released()` in a loop.
 * Order, concurrency and the queue stay the emitter's; only the stack is flat.
 */
/** Nested `_do` frames allowed (each is about ten stack frames of emitter, Aedes and plugin code). */
export const MAX_EMITTER_DEPTH = 32

type Callback = (err?: Error) => void

/** The mqemitter internals this relies on (checked at start-up, not assumed). */
interface EmitterInternals {
  _do: (message: unknown, callback: Callback) => unknown
  _released: () => void
  _messageQueue: unknown[]
  _messageCallbacks: Callback[]
  current: number
}

function internalsOf (mq: object): EmitterInternals {
  const e = mq as Partial<EmitterInternals>
  if (typeof e._do !== 'function' || typeof e._released !== 'function' || !Array.isArray(e._messageQueue) ||
    !Array.isArray(e._messageCallbacks) || typeof e.current !== 'number') {
    // An mqemitter without these (a new major): fail at start-up, not in the next storm.
    throw new Error('the MQTT emitter is not the mqemitter 7 this build expects (no _do/_released/_messageQueue)')
  }
  return e as EmitterInternals
}

/** Install the depth bound on an mqemitter (memory) or mqemitter-redis instance. Idempotent per instance. */
export function boundEmitterDepth (mq: object, maxDepth = MAX_EMITTER_DEPTH): void {
  const e = internalsOf(mq)
  if (Object.prototype.hasOwnProperty.call(e, '_do')) return
  const run = e._do
  let depth = 0
  let deferred = 0
  e._do = function boundedDo (this: EmitterInternals, message: unknown, callback: Callback): unknown {
    if (depth >= maxDepth) {
      // Back to the head of the queue, where released() would have found it, and
      // its slot kept: the queue's order and the concurrency count stay exact.
      this._messageQueue.unshift(message)
      this._messageCallbacks.unshift(callback)
      this.current++
      deferred++
      return this
    }
    depth++
    try {
      run.call(this, message, callback)
    } finally {
      depth--
      // The outermost frame (even one a subscriber's throw is unwinding: the held
      // slots must not be lost) hands them back one by one. released() runs the
      // next queued message through this function again, one frame down.
      if (depth === 0 && deferred > 0) {
        depth = 1
        try {
          while (deferred > 0) {
            deferred--
            this._released()
          }
        } finally {
          depth = 0
        }
      }
    }
    return this
  }
}
