import t from 'tap'
import { LogLimiter } from '../../broker/log-limiter.js'

t.test('a flood writes `lines` lines per window, then one summary with the count held back', async (t) => {
  const limiter = new LogLimiter<'protocol_error' | 'connect'>({ lines: 3, windowMs: 10_000 })
  const written = []
  for (let i = 0; i < 25_000; i++) {
    if (limiter.admit('protocol_error', 1000 + i * 0.1).write) written.push(i)
  }
  t.same(written, [0, 1, 2], 'three lines of 25,000 in the first window')
  t.same(limiter.flush(5000), [], 'no summary before the window ends')
  t.same(limiter.flush(11_000), [{ kind: 'protocol_error', suppressed: 24_997, from: 1000, to: 11_000 }], 'the summary when it ends')
  t.same(limiter.flush(30_000), [], 'summed up once')
})

t.test('kinds have their own budgets; a summary comes before the first line of the next window', async (t) => {
  const limiter = new LogLimiter<'a' | 'b'>({ lines: 1, windowMs: 1000 })
  t.same(limiter.admit('a', 0), { write: true, summary: null })
  t.same(limiter.admit('a', 10), { write: false, summary: null })
  t.same(limiter.admit('b', 20), { write: true, summary: null }, 'b is not held back by a')
  t.same(limiter.admit('a', 1500), { write: true, summary: { kind: 'a', suppressed: 1, from: 0, to: 1500 } })
  t.same(limiter.admit('b', 1500), { write: true, summary: null }, 'nothing of b was held back: no summary')
})

t.test('flush(now, true) ends every window (shutdown); an idle kind is forgotten', async (t) => {
  const limiter = new LogLimiter<'a'>({ lines: 0, windowMs: 1000 })
  t.same(limiter.admit('a', 0), { write: false, summary: null }, 'lines 0 writes nothing but counts')
  t.same(limiter.flush(10, true), [{ kind: 'a', suppressed: 1, from: 0, to: 10 }])
  t.same(limiter.flush(5000), [])
  t.throws(() => new LogLimiter({ lines: 1, windowMs: 0 }), /more than 0/)
})
