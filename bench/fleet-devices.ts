/**
 * The devices of the `fleet` scenario, forked (bench/fleet-devices-process.ts)
 * so that a fleet of 19,000 raw-socket devices fits this machine's 20,000 open
 * files per process while the broker stays one process. Each child simulates
 * its share (bench/simulator.ts), injects the faults it is told to, and
 * reports each device's truth (when the fault happened, when connections
 * ended) for the parent's analysis. Driven over IPC:
 *
 *   {connect, devices, parallelism}  -> {connected, connectedAt[]}
 *   {inject, stormReconnects}        -> {injected, truth[]}   (storms finished)
 *   {executed}                       -> {executed, count}
 *   {close}                          -> {closed}
 */
import { Device, connectAll, type DeviceOptions } from './simulator.js'
import type { Role } from './scenarios/fleet-analysis.js'

export interface FleetDeviceSpec { options: DeviceOptions, role: Role, index: number }
export interface FleetDeviceTruth {
  id: string
  injectedAt: number | null
  truthAt: number | null
  ends: Array<[number, { at: number, takeover: boolean }]>
  lastConnectAt: number
  notes: string[]
}

export type FleetDevicesRequest =
  | { type: 'connect', devices: FleetDeviceSpec[], parallelism: number }
  | { type: 'inject', stormReconnects: number }
  | { type: 'executed' }
  | { type: 'close' }
export type FleetDevicesReply =
  | { type: 'connected', connectedAt: number[] }
  | { type: 'injected', truth: FleetDeviceTruth[] }
  | { type: 'executed', count: number }
  | { type: 'closed' }
  | { type: 'failed', error: string }

const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

let specs: FleetDeviceSpec[] = []
let devices: Device[] = []

/** The faults, all at once (the same script as the in-process fleet had). */
async function inject (stormReconnects: number): Promise<FleetDeviceTruth[]> {
  const truth: FleetDeviceTruth[] = []
  const storms: Array<Promise<void>> = []
  devices.forEach((d, k) => {
    const { role, index: i } = specs[k]!
    const t: FleetDeviceTruth = { id: d.options.id, injectedAt: null, truthAt: null, ends: [], lastConnectAt: d.connectedAt, notes: [] }
    truth.push(t)
    if (role === 'healthy') return
    t.injectedAt = Date.now()
    if (role === 'freeze') t.truthAt = d.freeze()
    else if (role === 'drop') { t.ends.push([d.boot, { at: Date.now(), takeover: false }]); t.truthAt = d.drop() }
    else if (role === 'vanish') t.truthAt = d.vanish()
    else if (role === 'graceful') { t.ends.push([d.boot, { at: Date.now(), takeover: false }]); t.truthAt = d.graceful() }
    else if (role === 'storm') {
      storms.push((async () => {
        for (let r = 0; r < stormReconnects; r++) {
          const takeover = (i + r) % 2 === 0
          t.ends.push([d.boot, { at: Date.now(), takeover }])
          try { await d.reconnect(takeover) } catch (err) { t.notes.push(`storm reconnect failed: ${(err as Error).message}`) }
          await sleep(50 + Math.random() * 100)
        }
        t.lastConnectAt = d.connectedAt
      })())
    }
  })
  await Promise.all(storms)
  return truth
}

async function answer (m: FleetDevicesRequest): Promise<FleetDevicesReply> {
  switch (m.type) {
    case 'connect':
      specs = m.devices
      devices = specs.map((s) => new Device(s.options))
      await connectAll(devices, m.parallelism)
      return { type: 'connected', connectedAt: devices.map((d) => d.connectedAt) }
    case 'inject':
      return { type: 'injected', truth: await inject(m.stormReconnects) }
    case 'executed':
      return { type: 'executed', count: devices.reduce((a, d, k) => a + (specs[k]!.role === 'healthy' ? d.commandsExecuted : 0), 0) }
    case 'close':
      for (const d of devices) d.close()
      return { type: 'closed' }
  }
}

if (process.send !== undefined) {
  process.on('message', (m: FleetDevicesRequest) => {
    answer(m).then((r) => process.send!(r), (err: Error) => process.send!({ type: 'failed', error: err.message }))
  })
  process.on('disconnect', () => process.exit(0))
}
