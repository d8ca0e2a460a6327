/**
 * The device protocol's payloads as the simulator sends them. They must stay
 * byte for byte what firmware/core/protocol.cpp encodes (checked by
 * test/integration/agent-protocol-sync.test.ts against firmware/build/encode-sample).
 * Key order matters: JSON.stringify keeps insertion order.
 */

export const deviceTopics = (id: string) => ({
  status: `devices/${id}/status`,
  heartbeat: `devices/${id}/heartbeat`,
  telemetry: `devices/${id}/telemetry`,
  commands: `devices/${id}/commands`,
  ack: `devices/${id}/commands/ack`
})

/** The will set at CONNECT: the broker stamps the real time of death into `ts`. */
export const willPayload = (): string => JSON.stringify({ state: 'offline', ts: 0 })

export const birthPayload = (ts: number, fw: string, boot: number): string =>
  JSON.stringify({ state: 'online', ts, fw, boot })

export interface HeartbeatFields { ts: number, uptime: number, heap: number, rssi: number, interval: number }

export const heartbeatPayload = (hb: HeartbeatFields): string =>
  JSON.stringify({ ts: hb.ts, uptime: hb.uptime, heap: hb.heap, rssi: hb.rssi, heartbeat_interval: hb.interval })

export const gracefulPayload = (): string => JSON.stringify({ state: 'offline', reason: 'graceful' })

export const ackPayload = (id: string, ok: boolean, result: unknown): string =>
  JSON.stringify({ id, status: ok ? 'ok' : 'error', result: result ?? null })

/** One telemetry field: its value is written with at most `decimals` decimals, as the core does. */
export interface TelemetryValue { name: string, value: number, decimals: number }

/**
 * `{"ts","seq",<fields>,"dropped"}`: `seq` numbers readings from 1 per boot,
 * `dropped` counts readings the device's offline buffer dropped before this one.
 */
export function telemetryPayload (ts: number, seq: number, fields: readonly TelemetryValue[], dropped: number): string {
  const out: Record<string, number> = { ts, seq }
  for (const f of fields) {
    const scale = 10 ** f.decimals
    out[f.name] = Math.round(f.value * scale) / scale
  }
  out.dropped = dropped
  return JSON.stringify(out)
}
