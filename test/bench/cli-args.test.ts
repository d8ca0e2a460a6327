import t from 'tap'
import { parseArgs, runBench } from '../../bench/cli.js'

t.test('bench arguments go through node:util parseArgs', async (t) => {
  t.same(parseArgs(['fanin', '--reps', '2', '--quiet', '--publishers=4']),
    { scenario: 'fanin', flags: { reps: '2', quiet: true, publishers: '4' } })
  t.same(parseArgs(['--help']), { scenario: null, flags: { help: true } })
  t.throws(() => parseArgs(['fanin', '--bogus', '1']), /Unknown option '--bogus'\.\nUsage:/)
  t.throws(() => parseArgs(['fanin', 'fanout']), /unexpected argument fanout/)
  t.throws(() => parseArgs(['fanin', '--reps']), /--reps/, 'an option that needs a value')
})

t.test('an option of another scenario is refused for this one', async (t) => {
  await t.rejects(runBench(['fanin', '--devices', '10'], { out: () => {}, err: () => {} }), /unknown option --devices for fanin/)
})
