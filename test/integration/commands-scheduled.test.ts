/**
 * Command timeouts on injected time: the broker runs on a ManualScheduler, so
 * "re-sent after its timeout, not before; 504 after timeout x (retries + 1)"
 * is checked to the millisecond with 5-minute timeouts, over real sockets.
 * "Not re-sent yet" is proved with a barrier message sent to the device after
 * the moment, through the same broker and connection, never with a sleep.
 */
import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import { commandsPlugin } from '../../plugins/commands/index.js'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { connectedFleetPlugin } from '../support/connected-fleet.js'
import { simDevice } from '../support/device.js'

const TIMEOUT = 5 * 60_000

t.test('on broker time: each attempt waits its whole timeout, then 504 after timeout x (retries + 1)', async (t) => {
  const scheduler = new ManualScheduler(Date.now())
  const broker = await startBroker(t, { commands: { timeout: '5m', retries: 2 } },
    { scheduler, plugins: [connectedFleetPlugin(), commandsPlugin, metricsPlugin] })
  const device = await simDevice(t, broker.url, 'dev-mute', () => null)
  const barriers: string[] = []
  device.client.on('message', (topic) => { if (topic.startsWith('barrier/')) barriers.push(topic) })
  await device.client.subscribeAsync('barrier/#', { qos: 1 })
  const other = await connectClient(t, broker.url, { clientId: 'barrier-sender' })
  /** Everything the broker sent the device before this call has reached it once this returns. */
  const barrier = async (): Promise<void> => {
    const topic = `barrier/${barriers.length + 1}`
    await other.publishAsync(topic, 'b', { qos: 1 })
    await waitFor(() => barriers.includes(topic), 10_000, topic)
  }

  // The broker's own periodic tasks; one more is an attempt's timeout, armed once its send is out.
  const idle = scheduler.pending
  const armed = async (): Promise<void> => { await waitFor(() => scheduler.pending > idle, 10_000, 'the attempt\'s timeout armed') }
  const reply = broker.http.inject({ method: 'POST', url: '/api/devices/dev-mute/commands', payload: { command: 'reboot' } })
  await waitFor(() => device.commands.length === 1, 10_000, 'the first send')
  await armed()
  for (let attempt = 2; attempt <= 3; attempt++) {
    scheduler.advance(TIMEOUT - 1)
    await barrier()
    t.equal(device.commands.length, attempt - 1, `attempt ${attempt} is not sent 1 ms before the timeout`)
    scheduler.advance(1)
    await waitFor(() => device.commands.length === attempt, 10_000, `attempt ${attempt}`)
    t.pass(`attempt ${attempt} is sent at the timeout`)
    await armed()
  }
  scheduler.advance(TIMEOUT)
  const res = await reply
  t.equal(res.statusCode, 504, 'after the third timeout: 504')
  t.match(res.json(), { status: 'timeout', attempts: 3 })
  t.same(new Set(device.commands.map((c) => c.id)), new Set([res.json().id]), 'every attempt carried the same id')
})
