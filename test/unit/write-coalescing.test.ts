import t from 'tap'
import { Duplex } from 'node:stream'
import { coalesceWrites } from '../../broker/aedes/write-coalescing.js'

/** A real Duplex whose writable side records what each write syscall would carry. */
function recorder (highWaterMark = 16_384): { stream: Duplex, calls: string[][] } {
  const calls: string[][] = []
  const stream = new Duplex({
    highWaterMark,
    read () {},
    write (chunk: Buffer, _enc, cb) { calls.push([chunk.toString()]); cb() },
    writev (chunks, cb) { calls.push(chunks.map((c) => (c.chunk as Buffer).toString())); cb() }
  })
  return { stream, calls }
}

const nextImmediate = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

t.test('the writes of one turn leave together, in order, once the turn is over', async (t) => {
  const { stream, calls } = recorder()
  coalesceWrites(stream)
  stream.write('connack')
  stream.write('publish-1')
  stream.write('publish-2')
  t.same(calls, [], 'nothing written inside the turn')
  await nextImmediate()
  t.same(calls, [['connack', 'publish-1', 'publish-2']], 'one writev with every packet, in order')
})

t.test('a lone packet (a PINGRESP, a will) is not held past the turn', async (t) => {
  const { stream, calls } = recorder()
  coalesceWrites(stream)
  stream.write('pingresp')
  await nextImmediate()
  t.same(calls, [['pingresp']])
  stream.write('will')
  await nextImmediate()
  t.same(calls, [['pingresp'], ['will']], 'the next turn corks and flushes again')
})

t.test('a write made inside the check phase goes out in the next one', async (t) => {
  const { stream, calls } = recorder()
  coalesceWrites(stream)
  await new Promise<void>((resolve) => setImmediate(() => { stream.write('from-immediate'); resolve() }))
  await nextImmediate()
  await nextImmediate()
  t.same(calls, [['from-immediate']])
})

t.test('nested corks of mqtt-packet are respected: the packet leaves with the turn, not before', async (t) => {
  const { stream, calls } = recorder()
  coalesceWrites(stream)
  // What mqtt-packet's writeToStream does for each packet.
  stream.cork(); stream.write('header'); stream.write('body'); process.nextTick(() => stream.uncork())
  stream.cork(); stream.write('header2'); process.nextTick(() => stream.uncork())
  await new Promise((resolve) => process.nextTick(resolve))
  t.same(calls, [], 'still corked after mqtt-packet uncorked')
  await nextImmediate()
  t.same(calls, [['header', 'body', 'header2']])
})

t.test('a full buffer still reports backpressure, and drain follows the flush', async (t) => {
  const { stream, calls } = recorder(8)
  coalesceWrites(stream)
  t.equal(stream.write('0123456789'), false, 'over highWaterMark: write says wait')
  await new Promise<void>((resolve) => stream.once('drain', () => resolve()))
  t.same(calls, [['0123456789']])
})

t.test('streams corked in the same turn are each flushed', async (t) => {
  const a = recorder()
  const b = recorder()
  coalesceWrites(a.stream)
  coalesceWrites(b.stream)
  a.stream.write('a1'); b.stream.write('b1'); a.stream.write('a2')
  await nextImmediate()
  t.same(a.calls, [['a1', 'a2']])
  t.same(b.calls, [['b1']])
})

t.test('end() sends what the turn held at once and the flush after it is harmless', async (t) => {
  const { stream, calls } = recorder()
  coalesceWrites(stream)
  stream.write('last')
  stream.end('disconnect')
  await new Promise((resolve) => process.nextTick(resolve))
  t.same(calls, [['last', 'disconnect']], 'end() uncorked by itself')
  await nextImmediate()
  t.same(calls, [['last', 'disconnect']])
})
