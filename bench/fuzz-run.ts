/**
 * Sends fuzz cases (bench/fuzz-packets.ts) to a broker, each on a fresh TCP
 * connection, `parallel` at a time; a connection the broker has not closed
 * `lingerMs` after its bytes went out is closed by us. Used by the suite's
 * fuzz test and by `vigil-bench fuzz`.
 */
import { connect } from 'node:net'
import { fuzzCase } from './fuzz-packets.js'

export interface FuzzTally { cases: number, closedByBroker: number, closedByUs: number, refused: number }

export async function runFuzz (host: string, port: number, seed: number, cases: number, parallel = 32, lingerMs = 100): Promise<FuzzTally> {
  const tally: FuzzTally = { cases: 0, closedByBroker: 0, closedByUs: 0, refused: 0 }
  let next = 0
  const one = (index: number): Promise<void> => new Promise((resolve) => {
    const socket = connect({ host, port, noDelay: true })
    let timer: NodeJS.Timeout | null = null
    let settled = false
    const finish = (byBroker: boolean): void => {
      if (settled) return
      settled = true
      if (timer !== null) clearTimeout(timer)
      if (byBroker) tally.closedByBroker++
      else tally.closedByUs++
      socket.destroy()
      resolve()
    }
    socket.on('data', () => {})
    socket.once('error', () => { if (!settled && timer === null) { tally.refused++; settled = true; resolve() } else finish(true) })
    socket.once('close', () => finish(true))
    socket.once('connect', () => {
      socket.write(fuzzCase(seed, index))
      timer = setTimeout(() => finish(false), lingerMs)
    })
  })
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < cases) {
      const index = next++
      await one(index)
      tally.cases++
    }
  }))
  return tally
}
