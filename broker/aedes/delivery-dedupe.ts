/**
 * Aedes drops, per client, a message whose `brokerCounter` is not above the
 * highest it has delivered from the same broker (`dedupe` in aedes
 * lib/client.js). That is meant for one message matched by two overlapping
 * subscriptions of the client, and it assumes a broker emits its messages in
 * counter order. It does not: the counter is taken when a publish starts, and
 * each publish then waits on Redis (the retained store, the offline queue) for
 * its own time before it is emitted. So a later message that overtook an
 * earlier one silently dropped it: with 5,000 devices connecting to one node,
 * a `$liveness/+` subscriber on another node missed a few online statuses in
 * every run, with no error and no metric (test/integration/node-loss-scale.test.ts);
 * one node alone on Redis loses retained publishes overtaken by plain ones
 * (test/integration/delivery-order.test.ts).
 *
 * The fix keeps the intent, exactly: the copies of one message for several
 * subscriptions of a client reach its delivery functions back to back (mqemitter
 * calls every matching listener in one synchronous loop), so a delivery is a
 * duplicate when it carries the same broker and counter as the one just before
 * it. Each delivery function is wrapped to set Aedes' per-broker mark just below
 * the packet's counter unless it is such a duplicate. No allocation: three
 * variables per client.
 */
import type { Aedes, Client } from 'aedes'

interface Delivered { brokerId?: string, brokerCounter?: number }
type Deliver = (packet: Delivered, cb: () => void) => void
interface DeliveringClient {
  duplicates: Record<string, number>
  deliver0: Deliver
  deliverQoS: Deliver
}

export function orderTolerantDedupe (client: Client): void {
  const c = client as unknown as DeliveringClient
  if (typeof c.deliver0 !== 'function' || typeof c.deliverQoS !== 'function' || typeof c.duplicates !== 'object') return
  let lastBroker: string | undefined
  let lastCounter = -1
  let inside = false
  const wrap = (deliver: Deliver): Deliver => function deliverInAnyOrder (packet, cb) {
    const id = packet.brokerId
    const counter = packet.brokerCounter
    // Inside a delivery is deliverQoS handing a QoS 0 packet to deliver0: already decided.
    if (inside || id === undefined || counter === undefined) { deliver(packet, cb); return }
    c.duplicates[id] = id === lastBroker && counter === lastCounter ? counter : counter - 1
    lastBroker = id
    lastCounter = counter
    inside = true
    try { deliver(packet, cb) } finally { inside = false }
  }
  c.deliver0 = wrap(c.deliver0)
  c.deliverQoS = wrap(c.deliverQoS)
}

/** Wrap `broker.handle` once, at start-up, so every new client delivers in any order. */
export function installOrderTolerantDedupe (broker: Aedes): void {
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    orderTolerantDedupe(client)
    return client
  }) as Aedes['handle']
}
