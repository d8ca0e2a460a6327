/**
 * Delayed wills (`wills.delay`) at the end of the delay. They wait in
 * liveness' delay store beside the client's offline status; liveness
 * releases both, and hands the will to this handler: published unless the
 * client came back meanwhile. A will a reconnect cancelled is counted; one of
 * a forgotten (decommissioned) client goes out now rather than be lost.
 */
import type { Aedes, PublishPacket } from 'aedes'
import type { Logger } from '../../broker/logger.js'
import { publishAsync } from '../../broker/publish.js'
import type { DelayedEnd, DelayedWill, DelayedWillHandler, LivenessService } from '../liveness/service.js'
import { decideDue } from './decide.js'
import type { WillMetrics } from './metrics.js'
import { stampProperties } from './stamp.js'

export function delayedWills (broker: Aedes, liveness: LivenessService, metrics: WillMetrics, log: Logger,
  reportError: (err: unknown, what: string) => void, stamp = true): DelayedWillHandler {
  const publish = async ({ will }: { will: DelayedWill }): Promise<void> => {
    const out: PublishPacket = { cmd: 'publish', topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false }
    // The will's own MQTT 5 properties, and the stamp for MQTT 5 subscribers (stamp.ts stampProperties).
    const properties = stamp ? stampProperties(will.properties, will) : will.properties
    if (properties !== undefined) out.properties = properties as PublishPacket['properties']
    await publishAsync(broker, out)
    metrics.published(will.reason)
  }
  return {
    async due (end: DelayedEnd & { will: DelayedWill }) {
      const decision = decideDue(end.epoch, liveness.currentEpoch(end.clientId))
      if (decision.action === 'suppress') {
        metrics.suppressed(decision.cause)
        return
      }
      await publish(end)
    },
    cancelled (end, why) {
      if (why === 'forgotten') {
        publish(end).catch((err: unknown) => reportError(err, 'publishing the will of a forgotten client failed'))
        return
      }
      metrics.suppressed('reconnected')
      log.debug({ clientId: end.clientId }, 'delayed will cancelled by reconnect')
    }
  }
}
