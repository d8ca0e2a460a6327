import t from 'tap'
import type { Readable } from 'node:stream'
import memoryPersistence from 'aedes-persistence'
import { serveRetainedLookup } from '../../broker/aedes/retained-visibility.js'

interface Packet { topic: string, payload: Buffer, qos: number, cmd: string, retain: boolean }

interface Persistence {
  storeRetained(packet: Packet, cb?: (err: Error | null) => void): Promise<void> | undefined
  createRetainedStream(pattern: string): Readable
  createRetainedStreamCombi(patterns: string[]): Readable
}

const packet = (topic: string, payload: string): Packet => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true })

async function topics (stream: Readable): Promise<string[]> {
  const out: string[] = []
  for await (const p of stream) out.push(`${(p as Packet).topic}=${(p as Packet).payload.toString()}`)
  return out.sort()
}

function served (): { persistence: Persistence, size: () => number } {
  // Aedes' own memory persistence, with its retained calls served from the index.
  const persistence = (memoryPersistence as unknown as () => Persistence)()
  const handle = serveRetainedLookup(persistence, { onError: (err) => { throw err } })
  return { persistence, size: handle.size }
}

t.test('memory mode: storeRetained keeps the index, an empty payload deletes [MQTT-3.3.1-10]', async (t) => {
  const { persistence, size } = served()
  await persistence.storeRetained(packet('a/b', 'one'))
  await persistence.storeRetained(packet('a/b', 'two'))
  await persistence.storeRetained(packet('a/c', 'c'))
  await persistence.storeRetained(packet('$liveness/d1', 'online'))
  await new Promise<void>((resolve, reject) => persistence.storeRetained(packet('x', 'cb'), (err) => err === null ? resolve() : reject(err)))
  await persistence.storeRetained(packet('a/c', ''))
  t.equal(size(), 3, 'a/b (replaced), $liveness/d1, x')
  t.same(await topics(persistence.createRetainedStreamCombi(['a/+', '#'])), ['a/b=two', 'x=cb'],
    "each topic once, the newest payload, no cleared topic, no '$' topic for wildcards [MQTT-4.7.2-1]")
  t.same(await topics(persistence.createRetainedStreamCombi(['$liveness/+'])), ['$liveness/d1=online'])
})

t.test('memory mode: createRetainedStream (the enumeration plugins use) still sees $ topics', async (t) => {
  const { persistence } = served()
  await persistence.storeRetained(packet('$liveness/d1', 'online'))
  await persistence.storeRetained(packet('plain', 'p'))
  t.same(await topics(persistence.createRetainedStream('#')), ['$liveness/d1=online', 'plain=p'])
})

t.test('memory mode: the stored packet is a copy; Aedes changing its packet afterwards changes nothing', async (t) => {
  const { persistence } = served()
  const p = packet('k', 'v')
  await persistence.storeRetained(p)
  p.topic = 'changed'
  t.same(await topics(persistence.createRetainedStreamCombi(['k'])), ['k=v'])
})
