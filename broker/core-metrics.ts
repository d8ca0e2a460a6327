/**
 * Metrics the broker itself owns (the metrics plugin adds message and byte
 * counters): connections by result, connected clients, and Node's defaults.
 * One Registry per instance; every labelled series exists from start-up at 0.
 */
import type { Aedes } from 'aedes'
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client'

export const CONNECTION_RESULTS = ['accepted', 'rejected_protocol', 'rejected_identifier', 'rejected_unavailable',
  'rejected_auth', 'connect_timeout'] as const
export type ConnectionResult = typeof CONNECTION_RESULTS[number]

/** CONNACK return code -> result label [MQTT-3.2.2-3]. */
const RESULT_BY_RETURN_CODE: Record<number, ConnectionResult> = {
  0: 'accepted',
  1: 'rejected_protocol',
  2: 'rejected_identifier',
  3: 'rejected_unavailable',
  4: 'rejected_auth',
  5: 'rejected_auth',
  6: 'rejected_protocol'
}

export interface CoreMetrics {
  connections: Counter<'result'>
}

export function registerCoreMetrics (registry: Registry, broker: Aedes): CoreMetrics {
  collectDefaultMetrics({ register: registry })
  new Gauge({
    name: 'vigil_clients_connected',
    help: 'MQTT clients currently connected to this node',
    registers: [registry],
    collect () { this.set(broker.connectedClients ?? 0) }
  })
  const connections = new Counter({
    name: 'vigil_connections_total',
    help: 'Connection attempts that reached a CONNACK or timed out, by result',
    labelNames: ['result'],
    registers: [registry]
  })
  for (const result of CONNECTION_RESULTS) connections.inc({ result }, 0)

  broker.on('connackSent', (packet: { returnCode?: number }) => {
    connections.inc({ result: RESULT_BY_RETURN_CODE[packet.returnCode ?? 0] ?? 'rejected_protocol' })
  })
  broker.on('connectionError', (_client, err: Error) => {
    if (err.message === 'connect did not arrive in time') connections.inc({ result: 'connect_timeout' })
  })
  return { connections }
}
