/**
 * Reconnect storms (issue 11), the shape: devices with a will and no
 * birth; every socket dies at once and the whole fleet reconnects, twice; then
 * three takeover races (the new CONNECTs first, the old sockets die while the
 * broker takes them over); one clean takeover; one last mass close. The unfixed
 * broker ended with `RangeError: Maximum call stack size exceeded` (the emitter
 * drained its queue by recursion, broker/aedes/emitter-depth.ts) in every run of this
 * file. The broker is a real `vigil` process: a crash is an exit, not a dead runner.
 */
import t from 'tap'
import { StormFleet, StormWatcher, type Seen } from '../../bench/storm-fleet.js'
import { connectClient, waitFor } from '../helpers/clients.js'

import { startVigilProcess } from '../helpers/vigil-process.js'
import { freePort } from '../support/ports.js'

const DEVICES = 2000
/** Mass-close rounds, then takeover races (the race is what overflowed the stack). */
const STORM_ROUNDS = 2
const RACE_ROUNDS = 3
const KEEPALIVE = 30
/**
 * The broker runs with 300 KiB of stack instead of V8's default 984: in the test
 * runner (which shares the CPU and is slower at opening 2,000 sockets than a bare
 * load generator) the unfixed emitter's recursion reached 240 to 1,600 levels,
 * not always enough to overflow the default stack; at 300 KiB it overflowed in
 * each run. The bounded emitter needs a few hundred frames whatever the storm.
 */
const STACK_KIB = 200

t.test('a fleet-wide reconnect storm and takeover race: no crash, every device online at its newest epoch, wills per contract',
  { timeout: 120_000 }, async (t) => {
    const port = await freePort()
    const { child, url, stderr } = await startVigilProcess(t, {
      VIGIL_MQTT_PORT: String(port),
      VIGIL_MQTT_WS: 'null',
      VIGIL_HTTP: 'null',
      VIGIL_LOG_LEVEL: 'warn'
    }, [`--stack-size=${STACK_KIB}`])
    let exited: string | null = null
    child.once('exit', (code, signal) => { exited = `vigil exited (${code ?? signal}): ${stderr().slice(-1500)}` })
    const alive = (): void => { if (exited !== null) throw new Error(exited) }
    /** Poll until `done()`, failing at once if the broker died. */
    const until = async (what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> => {
      await waitFor(() => { alive(); return done() }, timeoutMs, what, 25)
    }

    const ids = Array.from({ length: DEVICES }, (_, i) => `storm-${i}`)
    const observer = await connectClient(t, url, { clientId: 'storm-observer' })
    const watcher = await StormWatcher.subscribe(observer, ids, true)
    const fleet = new StormFleet(url, ids, { keepalive: KEEPALIVE, birth: false })
    t.teardown(() => fleet.closeAll())

    /** Messages received since `from` (a watcher log index per device). */
    const marks = (): Map<string, { status: number, live: number }> =>
      new Map([...watcher.logs].map(([id, log]) => [id, { status: log.status.length, live: log.live.length }]))
    const since = (mark: Map<string, { status: number, live: number }>, pick: 'status' | 'live'): Map<string, Seen[]> =>
      new Map([...watcher.logs].map(([id, log]) => [id, log[pick].slice(mark.get(id)![pick])]))

    const first = await fleet.round('storm')
    t.equal(first.failed, 0, 'the fleet connects')
    await until('every device online', () => watcher.unsettled(null, true, new Map()).length === 0)
    const firstEpochs = watcher.epochs()

    const round = async (mode: 'storm' | 'takeover', what: string, close: { afterMs?: number, afterConnacks?: number } = {}): Promise<void> => {
      const before = watcher.epochs()
      const mark = marks()
      const r = await fleet.round(mode, close)
      t.equal(r.failed, 0, `${what}: every device reconnects`)
      await until(`${what}: every device online at a newer epoch`, () => watcher.unsettled(null, true, before).length === 0)
      const epochs = watcher.epochs()
      t.ok(ids.every((id) => epochs.get(id) === before.get(id)! + 1), `${what}: each device's epoch went up by exactly one`)
      // Each old connection either closed before the broker took its reconnect (its
      // will and its offline status, once each) or was taken over (neither).
      const wills = since(mark, 'status')
      const offline = new Map([...since(mark, 'live')].map(([id, seen]) => [id, seen.filter((s) => s.state === 'offline')]))
      t.ok(ids.every((id) => wills.get(id)!.length <= 1), `${what}: at most one will per connection`)
      t.ok(ids.every((id) => wills.get(id)!.length === offline.get(id)!.length),
        `${what}: a will exactly where the old connection went offline, none where it was taken over`)
      t.ok([...wills.values()].flat().every((w) => w.state === 'offline' && (w.ts ?? 0) > 0 && w.reason === 'connection_lost'),
        `${what}: every will is stamped with the time of death and connection_lost`)
      t.ok(ids.every((id) => offline.get(id)!.every((s) => s.reason === 'connection_lost' && s.epoch === before.get(id))),
        `${what}: each offline status is the old epoch's, connection_lost`)
      t.comment(`${what}: ${[...wills.values()].flat().length} wills, CONNACK in ${Math.round(r.elapsedMs)} ms`)
    }

    for (let n = 1; n <= STORM_ROUNDS; n++) await round('storm', `storm ${n}`)
    // The race: the new CONNECTs go out and the old sockets die while the broker
    // is still taking the new ones over (the issue: 50 ms later; here: once 200
    // CONNACKs are in, the same point of the broker's work however slow this runner
    // is, where 50 ms often came before the broker read any). This overflowed the stack:
    // each takeover finishes with the broker's $SYS/<node>/new/clients message, whose
    // subscribers all answer synchronously, and thousands of them queue back to back.
    for (let n = 1; n <= RACE_ROUNDS; n++) await round('takeover', `takeover race ${n}`, { afterConnacks: 200 })

    // A clean takeover (each old socket closed only after its reconnect's CONNACK): no will, no offline.
    const takeoverMark = marks()
    await round('takeover', 'takeover')
    // Barrier: a message published after the round, through the same broker to the
    // same observer; a late will or offline status of the round would come before it.
    const barrier = await connectClient(t, url, { clientId: 'storm-barrier' })
    const unparsed = watcher.unparsed
    await barrier.publishAsync('devices/storm-barrier/status', 'barrier', { qos: 1 })
    await until('the barrier', () => watcher.unparsed > unparsed)
    const takeoverWills = [...since(takeoverMark, 'status').values()].flat()
    const takeoverOffline = [...since(takeoverMark, 'live').values()].flat().filter((s) => s.state === 'offline')
    t.equal(takeoverWills.length, 0, 'takeover: no old connection\'s will is published')
    t.equal(takeoverOffline.length, 0, 'takeover: no offline status for a taken-over connection')

    const lastEpochs = watcher.epochs()
    t.ok(ids.every((id) => lastEpochs.get(id) === firstEpochs.get(id)! + STORM_ROUNDS + RACE_ROUNDS + 1), 'one epoch per accepted CONNECT')
    for (const [id, log] of watcher.logs) {
      const epochs = log.live.map((s) => s.epoch ?? 0)
      if (!epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!)) {
        t.fail(`${id}: a status of an older epoch came after a newer one: ${epochs.join(',')}`)
        break
      }
    }

    // The last mass close, with nobody reconnecting: what ended the unfixed broker.
    const closeMark = marks()
    fleet.closeAll()
    await until('every device offline', () => ids.every((id) => watcher.logs.get(id)!.live.at(-1)?.state === 'offline'))
    const finalWills = since(closeMark, 'status')
    t.ok([...finalWills.values()].every((w) => w.length === 1 && w[0]!.state === 'offline' && (w[0]!.ts ?? 0) > 0),
      'mass close: exactly one stamped will per device')
    t.ok(ids.every((id) => {
      const s = watcher.logs.get(id)!.live.at(-1)!
      return s.reason === 'connection_lost' && s.epoch === lastEpochs.get(id)
    }), 'mass close: every device offline, connection_lost, at its newest epoch')
    alive()

    // What a newcomer sees: the retained status of every device is the newest epoch's.
    const fresh = await connectClient(t, url, { clientId: 'storm-fresh' })
    const retained = await StormWatcher.subscribe(fresh, ids, true)
    await until('every retained status', () => ids.every((id) => retained.logs.get(id)!.live.length > 0))
    t.ok(ids.every((id) => {
      const s = retained.logs.get(id)!.live.at(-1)!
      return s.state === 'offline' && s.epoch === lastEpochs.get(id)
    }), 'no stale retained status')
    alive()
    t.notMatch(stderr(), /RangeError|Maximum call stack/, 'nothing about the stack in the broker\'s log')
  })
