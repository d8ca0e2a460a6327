/**
 * The history batching benchmark still runs and prints what RESULTS.md quotes
 * (a tiny run; its figures are never asserted). Runs the built file, as its
 * documented command does.
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
const script = 'dist/bench/history-batching.js'

t.test('a tiny run prints the batched and one-at-a-time rates', { skip: existsSync(script) ? false : 'not built (npm test builds it)' }, async (t) => {
  const { stdout } = await run(process.execPath, [script, '200', '5', '1'], { timeout: 120_000 })
  t.match(stdout, /200 devices flapping, 5 transitions each \(1,000 per run\), 1 runs/)
  t.match(stdout, /batched \(one pipeline per 250 ms tick\): median [\d,]+ transitions\/s .*us\/transition; \d+ pipelines/)
  t.match(stdout, /one transition at a time \(3 commands each\): median [\d,]+ transitions\/s/)
  t.match(stdout, /batched \/ one at a time: \d+\.\d\d x/)
})
