/**
 * Benchmark (not a test): what the strict MQTT checks (broker/aedes/) add to
 * parsing a PUBLISH. The same stream of QoS 0 PUBLISH packets (a typical
 * heartbeat topic and 64-byte payload) goes through a bare mqtt-packet parser
 * and through one with Vigil's checks installed, in 64 KiB chunks as a socket
 * delivers them. Each measurement runs in its own process (bare and checked
 * alternating), so that neither shares V8's inline caches with the other: in
 * the broker every parser is patched alike. Prints CPU ns per packet (CPU
 * time, not wall time: on a shared machine the wall clock counts other
 * processes' turns), medians with min/max, and the ratio.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/strict-packets.js [packets] [reps]
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { applyStrictChecks } from '../broker/aedes/strict-packets.js'

const PACKETS = Number(process.argv[2] ?? 200_000)
const REPS = Number(process.argv[3] ?? 11)
const MODE = process.argv[4] as 'bare' | 'strict' | undefined

function measure (strict: boolean): number {
  const one = mqttPacket.generate({ cmd: 'publish', topic: 'devices/sensor-00123/heartbeat', payload: Buffer.alloc(64, 0x61), qos: 0, retain: false, dup: false })
  const stream = Buffer.concat(Array.from({ length: PACKETS }, () => one))
  const run = (): number => {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let seen = 0
    parser.on('packet', () => { seen++ })
    if (strict) applyStrictChecks({ _parser: parser, conn: { write: () => {}, destroy: () => {} } } as unknown as Client, { refused: () => {} })
    const start = process.cpuUsage()
    for (let i = 0; i < stream.length; i += 64 * 1024) parser.parse(stream.subarray(i, i + 64 * 1024))
    const used = process.cpuUsage(start)
    if (seen !== PACKETS) throw new Error(`parsed ${seen} of ${PACKETS}`)
    return (used.user + used.system) * 1000 / PACKETS
  }
  run()
  const runs = [run(), run(), run()].sort((a, b) => a - b)
  return runs[1]!
}

const stats = (values: number[]): string => {
  const sorted = [...values].sort((a, b) => a - b)
  return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ns (min ${sorted[0]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)})`
}

if (MODE !== undefined) {
  process.stdout.write(String(measure(MODE === 'strict')))
} else {
  const self = fileURLToPath(import.meta.url)
  const child = (mode: string): number => Number(execFileSync(process.execPath, [self, String(PACKETS), '1', mode], { encoding: 'utf8' }))
  const bare: number[] = []
  const checked: number[] = []
  const ratios: number[] = []
  for (let i = 0; i < REPS; i++) {
    const b = child('bare')
    const c = child('strict')
    bare.push(b)
    checked.push(c)
    ratios.push(c / b)
  }
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!
  process.stdout.write(`PUBLISH parse, ${PACKETS} packets, ${REPS} alternating process pairs (CPU time)\n`)
  process.stdout.write(`  bare mqtt-packet parser:    ${stats(bare)} per packet\n`)
  process.stdout.write(`  with Vigil's strict checks: ${stats(checked)} per packet\n`)
  process.stdout.write(`  ratio (median of pairs): ${median(ratios).toFixed(3)}x, ${(median(checked) - median(bare)).toFixed(0)} ns per PUBLISH\n`)
}
