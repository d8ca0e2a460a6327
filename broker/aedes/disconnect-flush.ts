/**
 * A server DISCONNECT reaches the client before the connection closes
 * [MQTT-3.14.0-1] (issue 20: after a flood of 1,001 unacknowledged QoS 2
 * PUBLISH, about 2 runs in 8 never saw their DISCONNECT 0x93).
 *
 * aedes 2.0.0-beta.1's `client.disconnect()` writes the DISCONNECT and, a
 * turn later, closes the client, which ends in `conn.destroy()`: whatever
 * is still in the stream's buffer is thrown away (with write coalescing the
 * DISCONNECT sits corked until the end of the turn; after a flood it queues
 * behind the PUBRECs the socket could not take yet), and closing a socket
 * with unread input makes the kernel reset the connection, which can take
 * the client's unread bytes with it.
 *
 * So for an MQTT 5 client Vigil ends with a DISCONNECT (every reason code:
 * 0x81, 0x93, 0x95 of mqtt5.ts endForProtocolError, 0x96 and 0x98 of
 * closeWithReason, 0x87/0x96 of endForRefusedPublish, Aedes' own 0x8E
 * takeover and 0x8B shutdown), `disconnect()` here:
 * - stops reading at once (nothing the client sends after the refusal is
 *   handled: no further PUBLISH is accepted or acknowledged);
 * - writes the DISCONNECT as Aedes does, then seals the connection: nothing
 *   is written after it [MQTT-3.14.4-1] (an acknowledgement of an earlier
 *   PUBLISH that Aedes finishes later is dropped, the PUBLISH was not
 *   acknowledged);
 * - turns the close's `destroy()` into `end()`: the buffered bytes are
 *   flushed, then FIN; what the client still sends is read and dropped until
 *   it closes its side, and DISCONNECT_LINGER_MS later the socket is destroyed
 *   whatever the client does (one unref'd timer per ending connection).
 * Aedes' close itself (will, session, `clientDisconnect`) runs as before.
 * A 3.1.1 client has no server DISCONNECT: it is closed as before.
 * test/unit/disconnect-flush.test.ts shows the loss on a bare Aedes (the
 * DISCONNECT held in the socket's buffer) and the patch delivering it;
 * test/integration/mqtt5-disconnect-flush.test.ts runs the flood and the
 * other reason codes through Vigil.
 */
import type { Aedes, Client } from 'aedes'

/** How long an ended connection may take to flush its DISCONNECT and be closed by the client. */
export const DISCONNECT_LINGER_MS = 2000

type Done = () => void
type Disconnect = (this: Ending, opts?: object | Done, done?: Done) => void

interface Conn {
  write(...args: unknown[]): boolean
  destroy(err?: Error): unknown
  end(): unknown
  resume(): unknown
  on(event: 'data', fn: () => void): unknown
  once(event: 'close', fn: () => void): unknown
  destroyed: boolean
}

interface Ending {
  version: number
  connected: boolean
  closed: boolean
  errored?: boolean
  conn: Conn
  pause(): void
  disconnect: Disconnect
}

const sealed = new WeakSet<object>()

function noop (): void {}

/** Writes after the DISCONNECT go nowhere; a callback still runs, as after a write. */
function sealedWrite (...args: unknown[]): boolean {
  const last = args[args.length - 1]
  if (typeof last === 'function') process.nextTick(last as () => void)
  return true
}

/** The client's close destroys the socket: end it instead, read and drop its input, destroy it after the linger. */
function lingerOnDestroy (conn: Conn): void {
  const destroy = conn.destroy
  conn.destroy = function lingeringDestroy (this: Conn, err?: Error) {
    conn.destroy = destroy
    if ((err !== undefined && err !== null) || this.destroyed) return destroy.call(this, err)
    const timer = setTimeout(() => { destroy.call(this) }, DISCONNECT_LINGER_MS)
    timer.unref()
    this.once('close', () => clearTimeout(timer))
    // Reading on keeps the kernel from resetting the connection under the DISCONNECT.
    this.on('data', noop)
    this.resume()
    this.end()
    return this
  }
}

/** The shared replacement of `client.disconnect` (one function, no closure per client). */
function flushingDisconnect (this: Ending, opts?: object | Done, done?: Done): void {
  const original = (Object.getPrototypeOf(this) as { disconnect: Disconnect }).disconnect
  const conn = this.conn
  // The cases where Aedes writes no DISCONNECT (3.1.1, not yet connected, already closing) or it was written already.
  if (this.version !== 5 || !this.connected || this.closed || this.errored === true || sealed.has(conn)) {
    return original.call(this, opts, done)
  }
  this.pause()
  lingerOnDestroy(conn)
  original.call(this, opts, done)
  // Aedes wrote the DISCONNECT synchronously (its close follows a turn later): nothing after it.
  sealed.add(conn)
  conn.write = sealedWrite
}

/** Install once at start-up: every client this broker handles ends with its DISCONNECT delivered. */
export function flushDisconnects (broker: Aedes): void {
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    ;(client as unknown as Ending).disconnect = flushingDisconnect
    return client
  }) as Aedes['handle']
}
