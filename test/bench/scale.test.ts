/**
 * The `scale` scenario at a tiny size against `vigil --workers 2` on a real
 * redis-server (dist/, built by `npm test`'s pretest): forked raw-socket
 * devices on their own source addresses, a frozen subset goes silent, a killed
 * subset goes offline with its wills, nobody else leaves `online`.
 */
import t from 'tap'
import { runBench } from '../../bench/cli.js'

const quietIo = { out: () => {}, err: () => {} }

t.test('scale: truthful liveness through two workers at a small size', { timeout: 150_000 }, async (t) => {
  const o = await runBench(['scale', '--targets', 'vigil-workers2', '--reps', '1', '--devices', '400', '--procs', '2',
    '--heartbeat', '1', '--silent-after', '3', '--freeze', '0.05', '--kill', '0.05', '--quiet'], quietIo)
  t.same(o.errors, [])
  const m = o.runs[0]!.metrics
  t.equal(m.connected, 400, 'every device connected')
  t.equal(m.frozen, 20)
  t.equal(m.killed, 20)
  t.equal(m.missedSilent, 0, 'every frozen device went silent')
  t.equal(m.missedOffline, 0, 'every killed device went offline')
  t.equal(m.willsMissing, 0, 'a will for each killed device')
  t.equal(m.willsDuplicated, 0, 'no will twice')
  t.equal(m.falsePositives, 0, `nobody else left online (${JSON.stringify(o.runs[0]!.details!.falseSample)})`)
  t.comment(`silent at most ${m.silentLateMaxMs} ms past silentAfter, offline at most ${m.offlineLagMaxMs} ms after the kill`)
  const perProcess = o.runs[0]!.details!.perProcess as Array<{ name: string, rssMiB: number | null, openFiles: number | null }>
  t.same(perProcess.map((p) => p.name), ['primary', 'worker 1', 'worker 2', 'redis'])
  t.ok(perProcess.every((p) => p.rssMiB !== null && p.rssMiB > 0), 'RSS of every process')
})

t.test('scale refuses more sockets per load process than the open-file limit allows', async (t) => {
  await t.rejects(runBench(['scale', '--targets', 'vigil-workers2', '--devices', '60000', '--procs', '2'], quietIo), /under 19,000 sockets per load process/)
})
