/**
 * Write coalescing (issue 15): everything written to one connection during one
 * event-loop turn leaves in one `writev`, instead of one syscall per MQTT
 * packet. mqtt-packet corks the stream for each packet it writes and uncorks
 * on the next tick, which only merges the packet's own pieces; a subscriber
 * fed by ten publishers still paid a `writev` per PUBLISH (35 % of the
 * broker's busy time in a QoS 0 fan-in profile, bench/RESULTS.md).
 *
 * TCP_NODELAY stays on: Nagle batches too, but it holds a small write until
 * the previous one is acknowledged (a will reached a subscriber 28 ms late).
 * Here nothing waits for the network: the first write of a turn corks the
 * stream, and one shared `setImmediate` uncorks every stream corked in that
 * turn, in the check phase right after the I/O callbacks that wrote. A write
 * made inside the check phase itself goes out in the next check phase, with
 * no blocking wait in between (a pending immediate makes the poll phase
 * return at once). So a will, a PINGRESP or a CONNACK waits microseconds,
 * never for an ACK, and the order of one connection's packets is unchanged.
 *
 * A full buffer still says so: `write()` returns false past the stream's
 * highWaterMark, Aedes waits for 'drain', and 'drain' comes once the flush
 * has written the buffer out. `end()` uncorks by itself (Writable), so a
 * closing connection's last packets are not held either.
 */
import type { Duplex } from 'node:stream'

type WriteFn = Duplex['write']

/** Streams corked in the current turn, flushed together. Two arrays swapped: no allocation per flush. */
let pending: Duplex[] = []
let spare: Duplex[] = []
let scheduled = false
const corked = new WeakSet<Duplex>()

function flush (): void {
  scheduled = false
  const streams = pending
  pending = spare
  spare = streams
  for (let i = 0; i < streams.length; i++) {
    const stream = streams[i]!
    corked.delete(stream)
    stream.uncork()
  }
  streams.length = 0
}

/**
 * Installed as the stream's own `write`: one shared function (no closure per
 * connection), the original method reached through the prototype.
 */
function coalescingWrite (this: Duplex, ...args: Parameters<WriteFn>): boolean {
  if (!corked.has(this) && !this.destroyed) {
    corked.add(this)
    this.cork()
    pending.push(this)
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
  return (Object.getPrototypeOf(this) as { write: WriteFn }).write.apply(this, args)
}

/** Coalesce this connection's writes per event-loop turn. Call before Aedes writes to it. */
export function coalesceWrites (stream: Duplex): void {
  stream.write = coalescingWrite as WriteFn
}
