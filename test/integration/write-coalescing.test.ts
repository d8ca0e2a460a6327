import t from 'tap'
import { encodeConnect, encodePublish, encodeSubscribe, PacketParser, PINGREQ, type Incoming } from '../../bench/mqtt-codec.js'
import { startBroker } from '../helpers/broker.js'
import { rawSocket, waitFor } from '../helpers/clients.js'

const BURST = 500

for (const coalesceWrites of [true, false]) {
  t.test(`mqtt.coalesceWrites ${coalesceWrites}: a burst written in one turn reaches a subscriber whole and in order, and a PINGREQ in it is answered`, async (t) => {
    const broker = await startBroker(t, { mqtt: { coalesceWrites } })
    const subscriber = await rawSocket(t, broker.ports.mqtt)
    const received: Incoming[] = []
    const parser = new PacketParser()
    subscriber.on('data', (chunk: Buffer) => parser.feed(chunk, (p) => received.push(p)))
    subscriber.write(encodeConnect('coalesce-sub', 60, null))
    subscriber.write(encodeSubscribe(1, 'coalesce/#', 0))
    await waitFor(() => received.some((p) => p.type === 'suback'), 5000, 'SUBACK')

    const publisher = await rawSocket(t, broker.ports.mqtt)
    const pubReceived: Incoming[] = []
    const pubParser = new PacketParser()
    publisher.on('data', (chunk: Buffer) => pubParser.feed(chunk, (p) => pubReceived.push(p)))
    publisher.write(encodeConnect('coalesce-pub', 60, null))
    await waitFor(() => pubReceived.some((p) => p.type === 'connack'), 5000, 'CONNACK')
    // One write: the broker parses and forwards the whole burst within a turn or two.
    const burst = Array.from({ length: BURST }, (_, i) => encodePublish(`coalesce/${i % 7}`, String(i), 0, false))
    publisher.write(Buffer.concat([...burst.slice(0, BURST / 2), PINGREQ, ...burst.slice(BURST / 2)]))

    await waitFor(() => pubReceived.some((p) => p.type === 'pingresp'), 5000, 'PINGRESP')
    const publishes = await waitFor(() => {
      const got = received.filter((p) => p.type === 'publish')
      return got.length >= BURST ? got : undefined
    }, 10_000, `${BURST} messages`)
    t.equal(publishes.length, BURST, 'every message, none twice')
    t.same(publishes.map((p) => p.type === 'publish' ? p.payload.toString() : ''), burst.map((_, i) => String(i)), 'in publish order')
  })
}
