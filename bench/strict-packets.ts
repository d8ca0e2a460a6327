/**
 * Benchmark (not a test): what the strict MQTT checks (broker/aedes/) add to
 * parsing a PUBLISH. The same stream of QoS 0 PUBLISH packets (a typical
 * heartbeat topic and 64-byte payload) goes through a bare mqtt-packet parser
 * and through one with Vigil's checks installed, alternating, in 64 KiB
 * chunks as a socket delivers them. Prints ns per packet, medians with
 * min/max, and the ratio.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/strict-packets.js [packets] [reps]
 */
import type { Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { applyStrictChecks } from '../broker/aedes/strict-packets.js'

const PACKETS = Number(process.argv[2] ?? 500_000)
const REPS = Number(process.argv[3] ?? 7)

const one = mqttPacket.generate({ cmd: 'publish', topic: 'devices/sensor-00123/heartbeat', payload: Buffer.alloc(64, 0x61), qos: 0, retain: false, dup: false })
const stream = Buffer.concat(Array.from({ length: PACKETS }, () => one))
const CHUNK = 64 * 1024

function run (strict: boolean): number {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let seen = 0
  parser.on('packet', () => { seen++ })
  if (strict) {
    const client = { _parser: parser, conn: { write: () => {}, destroy: () => {} } } as unknown as Client
    applyStrictChecks(client, { refused: () => {} })
  }
  const start = process.hrtime.bigint()
  for (let i = 0; i < stream.length; i += CHUNK) parser.parse(stream.subarray(i, i + CHUNK))
  const ns = Number(process.hrtime.bigint() - start)
  if (seen !== PACKETS) throw new Error(`parsed ${seen} of ${PACKETS}`)
  return ns / PACKETS
}

const stats = (values: number[]): string => {
  const sorted = [...values].sort((a, b) => a - b)
  return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ns (min ${sorted[0]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)})`
}

run(false); run(true) // warm-up
const bare: number[] = []
const checked: number[] = []
const ratios: number[] = []
for (let i = 0; i < REPS; i++) {
  const b = run(false)
  const c = run(true)
  bare.push(b)
  checked.push(c)
  ratios.push(c / b)
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!
process.stdout.write(`PUBLISH parse, ${PACKETS} packets x ${REPS} alternating reps (${one.length} bytes each)\n`)
process.stdout.write(`  bare mqtt-packet parser:   ${stats(bare)} per packet\n`)
process.stdout.write(`  with Vigil's strict checks: ${stats(checked)} per packet\n`)
process.stdout.write(`  ratio (median of pairs): ${median(ratios).toFixed(3)}x, +${(median(checked) - median(bare)).toFixed(0)} ns per PUBLISH\n`)
