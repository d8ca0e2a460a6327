/**
 * An authorized-away PUBLISH that must still be acknowledged: Mosquitto (and
 * the contract, [MQTT-3.3.5-2]) acks a PUBLISH the ACL denies, so a device
 * does not resend it for ever, but neither delivers nor stores it. Aedes only
 * knows "authorized" (ack, then broker.publish) or "error" (close the client),
 * so a denied packet is let through authorizePublish marked, and this wrapper
 * around broker.publish (the one Aedes-internal touch) swallows it: the ack
 * goes out, nothing is stored, nothing is routed.
 */
import type { Aedes, PublishPacket } from 'aedes'

const DROPPED = Symbol('vigil.publish-dropped')
type Marked = PublishPacket & { [DROPPED]?: boolean }
type Done = (err?: Error | null) => void

/** Mark a packet so that the broker acks it and goes no further. */
export function dropAfterAck (packet: PublishPacket): void {
  (packet as Marked)[DROPPED] = true
}

export function installPublishDrop (broker: Aedes): void {
  const publish = broker.publish
  broker.publish = function publishUnlessDropped (this: Aedes, packet: PublishPacket, client?: unknown, done?: Done) {
    if ((packet as Marked)[DROPPED] === true) {
      (packet as Marked)[DROPPED] = false
      const callback = typeof client === 'function' ? client as Done : done
      if (callback !== undefined) callback(null)
      return
    }
    return (publish as (p: PublishPacket, c?: unknown, d?: Done) => void).call(this, packet, client, done)
  } as Aedes['publish']
}
