/**
 * Waiting in tests without fixed pauses. A test waits for the event or the
 * condition it needs (with a generous deadline, since CI machines are loaded),
 * and proves that something did NOT happen with a barrier: a message that goes
 * through the same path after the one that must not arrive. Once the barrier
 * is in, anything that was going to arrive before it has.
 */

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

type Falsy = undefined | false | null

/**
 * Resolves with the first truthy value of `predicate` (sync or async), polled
 * every `everyMs`; fails naming `what` after `timeoutMs`.
 */
export async function waitFor<T> (predicate: () => T | Falsy | Promise<T | Falsy>, timeoutMs = 5000, what = 'condition', everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await predicate()
    if (value !== undefined && value !== false && value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await pause(everyMs)
  }
}

export interface Barrier {
  /** Sends the barrier (through the same path as what must not arrive), if the caller has not already. */
  send?: () => unknown
  /** True once the barrier has been received. */
  arrived: () => unknown
  timeoutMs?: number
  what?: string
}

/** Sends the barrier and waits until it has arrived. */
export async function passBarrier (barrier: Barrier): Promise<void> {
  await barrier.send?.()
  await waitFor(() => barrier.arrived() as unknown, barrier.timeoutMs ?? 10_000, barrier.what ?? 'the barrier')
}

/**
 * Proves absence: sends the barrier, waits for it, then returns every message
 * of `received` that `forbidden` matches (the caller asserts it is empty).
 */
export async function expectNothingBefore<M> (received: readonly M[], forbidden: (m: M) => boolean, barrier: Barrier): Promise<M[]> {
  await passBarrier(barrier)
  return received.filter(forbidden)
}

/**
 * Like waitFor, but resolves false at the deadline instead of failing: for a
 * test that asserts the condition itself afterwards, with its own message.
 */
export async function eventually (predicate: () => unknown, timeoutMs = 5000, everyMs = 50): Promise<boolean> {
  return await waitFor(async () => Boolean(await predicate()), timeoutMs, 'condition', everyMs).then(() => true, () => false)
}

/**
 * Resolves after the event loop has gone round once (a macrotask): every
 * promise rejected before it has been through Node's unhandled-rejection check.
 */
export function nextTurn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
