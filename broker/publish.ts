/**
 * `broker.publish` as a promise: resolves once Aedes has stored (retained),
 * enqueued (QoS > 0) and emitted the message, rejects with its error.
 * Messages published this way do not pass authorizePublish (Aedes' design).
 */
import type { Aedes, PublishPacket } from 'aedes'

export function publishAsync (broker: Aedes, packet: PublishPacket): Promise<void> {
  return new Promise((resolve, reject) => {
    broker.publish(packet, (err?: Error | null) => {
      if (err !== undefined && err !== null) reject(err)
      else resolve()
    })
  })
}
