/**
 * The boundary to Aedes internals: everything Vigil does to Aedes, its parser
 * or its persistence that Aedes does not document lives under broker/aedes/.
 */
export { connectInfo, installStrictPackets, remoteAddress, type ConnectInfo, type ConnectRefusal } from './strict-packets.js'
export { guardOfflineQueue } from './queued-dollar.js'
export { gateOnRedis } from './redis-gate.js'
export { replayAfterResubscribe } from './session-replay.js'
export { registerRetainedIndexMetric, serveRetainedLookup, type RetainedLookupHandle } from './retained-visibility.js'
export { coalesceWrites } from './write-coalescing.js'
