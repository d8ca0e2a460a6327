/**
 * The boundary to Aedes internals: everything Vigil does to Aedes, its parser
 * or its persistence that Aedes does not document lives under broker/aedes/,
 * and the rest of the code imports it from here.
 *
 * - Reads: client-fields.ts (will, _will, _disconnected, closed, errored,
 *   subscriptions, conn, req; clientSlot for a plugin's own state on a client),
 *   broker-fields.ts (clients, persistence, mq, the three-argument publish).
 * - Patches, each installed once at start-up (broker/server.ts, the plugin host,
 *   the limits and wills plugins): strict-packets.ts and packet-size.ts on each
 *   client's parser (through broker.handle), emitter-depth.ts on the emitter,
 *   queued-dollar.ts, queue-limit.ts, retained-visibility.ts, will-deletes.ts and
 *   outgoing-release.ts on the persistence, publish-drop.ts, redis-gate.ts and session-replay.ts
 *   around publishing and delivery; user-property-order.ts on mqtt-packet's parser and
 *   writer and on msgpack-lite, disconnect-flush.ts on each client's disconnect().
 * - test/unit/aedes-boundary.test.ts pins every internal these rely on for the
 *   installed versions; test/unit/aedes-boundary-imports.test.ts fails on any
 *   read of one outside this folder.
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
export { INBOUND_QOS2_WINDOW } from './regressions.js'
export { DISCONNECT_WITH_WILL, disconnectReasonCode, endForRefusedPublish, errorKeepsConnection, willDelayOf } from './mqtt5.js'
export { replayAfterResubscribe } from './session-replay.js'
export { registerRetainedIndexMetric, serveRetainedLookup, type RetainedLookupHandle } from './retained-visibility.js'
export {
  clientSlot, connectWill, isClosed, isErrored, pendingWill, sentDisconnect, subscriptionsOf, takePendingWill,
  transportOf, upgradeRequestOf, type ClientSlot, type WillPacket
} from './client-fields.js'
export { emitterOf, liveClient, liveClients, persistenceOf, publishAs, type BrokerEmitter, type BrokerPersistence } from './broker-fields.js'
export { afterWillDeleted, type StoredWillKey } from './will-deletes.js'
export { coalesceWrites } from './write-coalescing.js'
export { explainConnackRefusals } from './connack-reasons.js'
export { explainSubscribeRefusals } from './suback-reasons.js'
export { unshieldProtoFilters } from './regressions.js'
export { closeWithReason, endForProtocolError } from './mqtt5.js'
export { encodePublishesWhole } from './publish-encoding.js'
// MQTT 5 conformance fixes (issue 20, test/conformance5/): advertised limits and the client's
// Maximum Packet Size, every Subscription Identifier, session resumption, the client's Receive Maximum.
export { advertiseV5Limits, limitForwardedSize, TOPIC_ALIAS_MAXIMUM } from './v5-limits.js'
export { forwardAllSubscriptionIds } from './subscription-ids.js'
export { markRedeliveries, resumeQueuedSessions } from './session-resume.js'
export { applyReceiveMaximum, HELD_MAX } from './receive-maximum.js'
export { releaseOncePerSession } from './outgoing-release.js'
// [MQTT-3.3.2-18] User Properties forwarded in the order received (issue 20); a server DISCONNECT
// reaches the client before its connection closes (issue 20, the DISCONNECT 0x93 after a flood).
export { keepUserPropertyOrder, orderedUserProperties, userPropertiesWith, userPropertyPairs, type UserProperties } from './user-property-order.js'
export { flushDisconnects, DISCONNECT_LINGER_MS } from './disconnect-flush.js'
