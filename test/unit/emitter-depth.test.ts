import t from 'tap'
import mqemitter from 'mqemitter'
import { boundEmitterDepth, MAX_EMITTER_DEPTH } from '../../broker/aedes/emitter-depth.js'

interface Message { topic: string, n: number }
interface Emitter {
  on(topic: string, fn: (m: Message, done: () => void) => void): unknown
  emit(m: Message, cb?: (err?: Error) => void): unknown
  current: number
  length: number
}

const QUEUED = 20_000

/**
 * The storm's shape in miniature: one slow subscriber holds the only
 * concurrency slot while QUEUED messages whose subscriber answers synchronously
 * wait behind it; then the slow one finishes and released() drains the queue.
 */
function storm (bound: boolean): { emitter: Emitter, seen: number[], completed: number, maxNesting: number, release(): void } {
  const emitter = mqemitter({ concurrency: 1 }) as unknown as Emitter
  if (bound) boundEmitterDepth(emitter)
  const state = { emitter, seen: [] as number[], completed: 0, maxNesting: 0, release: () => {} }
  let nesting = 0
  emitter.on('slow', (_m, done) => { state.release = done })
  emitter.on('fast', (m, done) => {
    state.seen.push(m.n)
    nesting++
    if (nesting > state.maxNesting) state.maxNesting = nesting
    done()
    nesting--
  })
  emitter.emit({ topic: 'slow', n: -1 })
  for (let n = 0; n < QUEUED; n++) emitter.emit({ topic: 'fast', n }, () => { state.completed++ })
  return state
}

t.test('upstream: draining a queue of synchronous deliveries recurses off the stack', async (t) => {
  const s = storm(false)
  t.equal(s.emitter.length, QUEUED, 'all queued behind the slow one')
  t.throws(() => s.release(), RangeError)
})

t.test('bounded: the same drain delivers everything, in order, on a flat stack', async (t) => {
  const s = storm(true)
  t.equal(s.emitter.length, QUEUED)
  s.release()
  t.equal(s.seen.length, QUEUED, 'every queued message delivered')
  t.ok(s.seen.every((n, i) => n === i), 'in emit order')
  t.equal(s.completed, QUEUED, 'every emit callback called')
  t.ok(s.maxNesting <= MAX_EMITTER_DEPTH + 1, `nesting ${s.maxNesting} stays within the bound`)
  t.equal(s.emitter.current, 0, 'no concurrency slot leaked')
  t.equal(s.emitter.length, 0, 'queue empty')
})

t.test('bounded: messages emitted during the drain wait their turn', async (t) => {
  const emitter = mqemitter({ concurrency: 1 }) as unknown as Emitter
  boundEmitterDepth(emitter)
  const seen: string[] = []
  let release = (): void => {}
  emitter.on('slow', (_m, done) => { release = done })
  emitter.on('fast', (m, done) => {
    seen.push(`fast${m.n}`)
    // A subscriber that publishes (as a plugin reacting to a message may): queued behind the rest.
    if (m.n === 10) emitter.emit({ topic: 'late', n: 0 })
    done()
  })
  emitter.on('late', (_m, done) => { seen.push('late'); done() })
  emitter.emit({ topic: 'slow', n: -1 })
  const count = MAX_EMITTER_DEPTH * 4
  for (let n = 0; n < count; n++) emitter.emit({ topic: 'fast', n })
  release()
  t.equal(seen.length, count + 1)
  t.equal(seen.at(-1), 'late', 'the message emitted mid-drain comes after those queued before it')
  t.equal(emitter.current, 0)
})

t.test('bounded: the common path (nothing queued) delivers synchronously as before', async (t) => {
  const emitter = mqemitter({ concurrency: 100 }) as unknown as Emitter
  boundEmitterDepth(emitter)
  boundEmitterDepth(emitter) // idempotent
  const seen: number[] = []
  emitter.on('a', (m, done) => { seen.push(m.n); done() })
  let called = 0
  for (let n = 0; n < 5; n++) emitter.emit({ topic: 'a', n }, () => { called++ })
  t.same(seen, [0, 1, 2, 3, 4], 'delivered before emit returned')
  t.equal(called, 5)
  t.equal(emitter.current, 0)
})

t.test('an emitter without the expected internals is refused at start-up', async (t) => {
  t.throws(() => boundEmitterDepth({ emit () {} }), /not the mqemitter 7/)
})
