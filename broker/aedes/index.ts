/**
 * The boundary to Aedes internals: everything Vigil does to Aedes, its parser
 * or its persistence that Aedes does not document lives under broker/aedes/.
 */
export { connectInfo, installStrictPackets, remoteAddress, type ConnectInfo, type ConnectRefusal } from './strict-packets.js'
export { guardOfflineQueue } from './queued-dollar.js'
export { installPacketSizeLimit } from './packet-size.js'
export { installOrderTolerantDedupe } from './delivery-dedupe.js'
export { willsInRedis } from './lost-wills.js'
export { boundEmitterDepth, MAX_EMITTER_DEPTH } from './emitter-depth.js'
export { limitOfflineQueues, limitOfflineQueuesRedis, type QueueLimit } from './queue-limit.js'
export { dropAfterAck, installPublishDrop } from './publish-drop.js'
export { gateOnRedis } from './redis-gate.js'
export { replayAfterResubscribe } from './session-replay.js'
export { registerRetainedIndexMetric, serveRetainedLookup, type RetainedLookupHandle } from './retained-visibility.js'
export {
  clientSlot, connectWill, isClosed, isErrored, pendingWill, sentDisconnect, subscriptionsOf, takePendingWill,
  transportOf, upgradeRequestOf, type ClientSlot, type WillPacket
} from './client-fields.js'
export { emitterOf, liveClient, liveClients, persistenceOf, publishAs, type BrokerEmitter, type BrokerPersistence } from './broker-fields.js'
export { afterWillDeleted, type StoredWillKey } from './will-deletes.js'
