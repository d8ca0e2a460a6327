/**
 * The MQTT 5 overhead benchmark still runs and reports what RESULTS.md quotes:
 * every scenario (QoS 0 and QoS 1 fan-in, fan-out) with broker CPU per message
 * for 3.1.1 and MQTT 5 and their same-run ratio (a tiny run; the figures are
 * never asserted: speed is measured in bench/, not in tests). Runs the built
 * file, as its documented command does.
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
const script = 'dist/bench/mqtt5-overhead.js'
const built = existsSync(script) && existsSync('dist/broker/main.js')

t.test('a tiny run prints broker CPU per message for 3.1.1 and MQTT 5, and the ratio, for each scenario', { skip: built ? false : 'not built (npm test builds it)', timeout: 180_000 }, async (t) => {
  const { stdout } = await run(process.execPath, [script, '1000', '1'], { timeout: 170_000 })
  t.match(stdout, /vigil child process \(pid \d+\), broker CPU from \/proc; about 1000 messages per run, 1 alternating pairs/)
  for (const name of ['fanin-qos0', 'fanin-qos1', 'fanout-qos0']) {
    const section = stdout.slice(stdout.indexOf(`${name}:`))
    t.ok(stdout.includes(`${name}:`), `${name} ran`)
    t.match(section, /3\.1\.1: median \d+\.\d\d .* us broker CPU\/msg/, `${name}: 3.1.1 CPU per message`)
    t.match(section, /MQTT 5: median \d+\.\d\d .* us broker CPU\/msg/, `${name}: MQTT 5 CPU per message`)
    // A tiny run may be under /proc's 10 ms tick: then the ratio says so.
    t.match(section, /broker CPU per message v5\/3\.1\.1 per pair: (median \d+\.\d{3}|n\/a \(runs too short)/, `${name}: the ratio`)
  }
})

t.test('an unknown scenario is refused with the list of scenarios', { skip: built ? false : 'not built' }, async (t) => {
  const failed = await run(process.execPath, [script, '1000', '1', 'nonsense'], { timeout: 60_000 }).then(() => null, (err: { stderr: string }) => err)
  t.ok(failed !== null, 'exits non-zero')
  t.match(failed?.stderr ?? '', /unknown scenario nonsense: one of fanin-qos0, fanin-qos1, fanout-qos0/)
})
