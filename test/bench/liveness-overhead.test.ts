/**
 * The liveness overhead benchmark still runs and reports what RESULTS.md quotes
 * (a tiny run; the figures themselves are never asserted: speed is measured in
 * bench/, not in tests). Runs the built file, as its documented command does.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { withoutTapHooks } from '../helpers/vigil-process.js'

const execFileAsync = promisify(execFile)
/** The script and the brokers it starts, without tap's per-process hooks (test/helpers/vigil-process.ts). */
const run = async (command: string, args: string[], options: { timeout: number }): Promise<{ stdout: string, stderr: string }> =>
  await execFileAsync(...withoutTapHooks(command, args), { ...options, encoding: 'utf8' })
const script = 'dist/bench/liveness-overhead.js'

t.test('a tiny on/off run prints throughput, CPU and hook-path ratios', { skip: existsSync(script) ? false : 'not built (npm test builds it)' }, async (t) => {
  const { stdout } = await run(process.execPath, ['--expose-gc', script, '2000', '1', '2'], { timeout: 120_000 })
  t.match(stdout, /2 publishers -> 1 subscriber, about 2000 messages per run, 1 on\/off pairs/)
  t.match(stdout, /throughput on\/off, per pair: median \d+\.\d{3}/)
  t.match(stdout, /CPU on\/off, per pair: median \d+\.\d{3}/)
  // A loaded machine prints 1,051 ns: the figure may carry a thousands separator.
  t.match(stdout, /hook path, plugin on: +median \d[\d,]* ns\/msg/)
})

t.test('an unknown variant is refused with the list of variants', { skip: existsSync(script) ? false : 'not built' }, async (t) => {
  const failed = await run(process.execPath, [script, '2000', '1', '2', 'nonsense'], { timeout: 60_000 }).then(() => null, (err: { stderr: string }) => err)
  t.ok(failed !== null, 'exits non-zero')
  t.match(failed?.stderr ?? '', /unknown variant nonsense: one of liveness, control, empty-hooks, no-hooks/)
})
