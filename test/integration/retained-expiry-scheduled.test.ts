/**
 * retained.expire on injected time: the broker runs on a ManualScheduler, so
 * a 10-minute maxAge is checked sweep by sweep, to the minute, in well under a
 * second, with real clients over real sockets. "Not cleared yet" is proved with
 * a barrier message sent after the sweep, through the same broker, never a sleep.
 */
import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import { defaultPlugins } from '../../plugins/index.js'
import { retainedPlugin, type SweepResult } from '../../plugins/retained/index.js'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor, type Received } from '../helpers/clients.js'

const MINUTE = 60_000

const clearOf = (received: Received[], topic: string): Received | undefined =>
  received.find((m) => m.topic === topic && m.payload.length === 0)

t.test('a retained message under a 10 min maxAge is cleared by the first sweep at 10 min of broker time, not one sweep before', async (t) => {
  const scheduler = new ManualScheduler(Date.now())
  const sweeps: SweepResult[] = []
  const plugins = defaultPlugins.map((p) => p.name === 'retained' ? retainedPlugin({ onSweep: (r) => sweeps.push(r) }) : p)
  const broker = await startBroker(t, { retained: { expire: [{ topic: 'exp/+', maxAge: '10m' }], sweepInterval: '1m' } }, { scheduler, plugins })
  const live = await connectClient(t, broker.url, { clientId: 'live-sub' })
  const received = collect(live)
  await subscribe(live, ['exp/#', 'keep/#', 'barrier/#'], 1)
  const pub = await connectClient(t, broker.url, { clientId: 'pub' })

  /** Move broker time by `ms` and wait for the sweep that fell due to finish. */
  const sweepAfter = async (ms: number): Promise<void> => {
    const before = sweeps.length
    scheduler.advance(ms)
    await waitFor(() => sweeps.length > before, 10_000, `the sweep at +${ms} ms`)
  }
  let barriers = 0
  /** A message after everything the last sweep published, through the same broker to the same subscriber. */
  const barrier = async (): Promise<void> => {
    const topic = `barrier/${++barriers}`
    await pub.publishAsync(topic, 'b', { qos: 1 })
    await waitFor(() => received.some((m) => m.topic === topic), 10_000, topic)
  }

  await sweepAfter(0) // the start-up sweep (reconciling)
  await pub.publishAsync('exp/a', 'a', { qos: 1, retain: true })
  await pub.publishAsync('keep/c', 'c', { qos: 1, retain: true })
  for (let minute = 1; minute <= 9; minute++) await sweepAfter(MINUTE)
  await barrier()
  t.equal(clearOf(received, 'exp/a'), undefined, 'nine sweeps, nine minutes of broker time: not cleared')

  await sweepAfter(MINUTE)
  await waitFor(() => clearOf(received, 'exp/a'), 10_000, 'the clear of exp/a')
  t.pass('the sweep at 10 min cleared it (the live subscriber saw the empty retained publish)')
  t.equal(sweeps.at(-1)?.expired, 1, 'that sweep reports one expiry')
  await barrier()
  t.equal(clearOf(received, 'keep/c'), undefined, 'a message outside every rule stays')
})
