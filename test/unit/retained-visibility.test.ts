import t from 'tap'
import type { Readable } from 'node:stream'
import { hideDollarRetained } from '../../broker/aedes/retained-visibility.js'

interface Packet { topic: string }

/**
 * A persistence that, like Aedes 1.2's memory one, answers each filter on its
 * own (`answers[filter]`: what its matcher returns, '$' topics for '#'
 * included), then fails if `failure` is given.
 */
function lookup (answers: Record<string, Packet[]>, failure: Error | null = null): { createRetainedStreamCombi(patterns: string[]): AsyncIterable<Packet> } {
  return {
    async * createRetainedStreamCombi (patterns: string[]) {
      for (const pattern of patterns) for (const packet of answers[pattern] ?? []) yield packet
      if (failure !== null) throw failure
    }
  }
}

async function drain (stream: Readable): Promise<{ topics: string[], error: unknown }> {
  const topics: string[] = []
  return await new Promise((resolve) => {
    stream.on('data', (packet: Packet) => topics.push(packet.topic))
    stream.on('end', () => resolve({ topics, error: null }))
    stream.on('error', (error) => resolve({ topics, error }))
  })
}

const all = [{ topic: '$SYS/x/uptime' }, { topic: 'a/b' }, { topic: '$liveness/d1' }]
const stored: Record<string, Packet[]> = {
  '#': all,
  '+/b': all.filter((p) => p.topic.endsWith('/b')),
  '$liveness/+': [{ topic: '$liveness/d1' }],
  '$SYS/#': [{ topic: '$SYS/x/uptime' }]
}

t.test('a $ topic goes only to a $ filter that matches it; each topic once per SUBSCRIBE [MQTT-4.7.2-1]', async (t) => {
  const persistence = lookup(stored)
  const errors: unknown[] = []
  hideDollarRetained(persistence, (err) => errors.push(err))
  const call = (patterns: string[]): Readable => persistence.createRetainedStreamCombi(patterns) as unknown as Readable
  t.same((await drain(call(['#']))).topics, ['a/b'], '# alone: no $ topic')
  t.same((await drain(call(['+/b', '#']))).topics, ['a/b'], 'two filters: a/b once')
  t.same((await drain(call(['#', '$liveness/+']))).topics, ['a/b', '$liveness/d1'], 'with a $liveness filter: $liveness (once), not $SYS')
  t.same((await drain(call(['$SYS/#']))).topics, ['$SYS/x/uptime'], 'one $SYS filter')
  t.same(errors, [], 'no error reported')
})

t.test('a failing lookup (Redis gone) ends the stream and is reported, not thrown', async (t) => {
  const failure = new Error('Connection is closed.')
  const persistence = lookup({ '#': [{ topic: 'a/b' }] }, failure)
  const errors: unknown[] = []
  hideDollarRetained(persistence, (err) => errors.push(err))
  const result = await drain(persistence.createRetainedStreamCombi(['#']) as unknown as Readable)
  t.same(result.topics, ['a/b'], 'what came before the failure is delivered')
  t.equal(result.error, failure, 'the stream ends with the error')
  t.same(errors, [failure], 'the error is reported once')
})
