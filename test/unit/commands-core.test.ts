import t from 'tap'
import { commandPayload, isCommandId, parseAck, parseCommandRequest } from '../../plugins/commands/messages.js'
import { CommandRunner } from '../../plugins/commands/runner.js'
import { ManualScheduler } from '../../broker/scheduler.js'
import { MemoryCommandStore } from '../../plugins/commands/store.js'
import { fillTemplate, isAddressable, topicPattern } from '../../plugins/commands/topics.js'
import { ApiError } from '../../plugins/api/http-errors.js'

const defaults = { timeout: 30_000, retries: 2 }

t.test('command topic templates fill in, give one wildcard filter, and tell whose an ack topic is', async (t) => {
  const p = topicPattern('devices/{clientId}/commands/ack')
  t.equal(p.filter, 'devices/+/commands/ack')
  t.same(p.match('devices/dev-1/commands/ack'), { clientId: 'dev-1', username: undefined })
  t.equal(p.match('devices/dev-1/commands/ack/x'), null)
  t.equal(p.match('devices/a/b/commands/ack'), null, 'a level separator never belongs to a client id')
  t.equal(p.mayMatch('devices/x/telemetry'), false, 'the cheap pre-test rejects other topics')
  t.equal(fillTemplate('devices/{clientId}/commands', { clientId: 'd1' }), 'devices/d1/commands')

  const q = topicPattern('u/{username}/c-{clientId}/ack')
  t.equal(q.filter, 'u/+/+/ack', 'a placeholder inside a level makes the whole level +')
  t.same(q.match('u/alice/c-d1/ack'), { clientId: 'd1', username: 'alice' })
  t.equal(q.match('u/alice/d1/ack'), null)
  t.equal(topicPattern('{clientId}/x/{clientId}').match('a/x/b'), null, 'one placeholder twice must agree')
  t.equal(isAddressable('dev-1'), true)
  for (const bad of ['', 'a/b', 'a+', '#']) t.equal(isAddressable(bad), false, `${JSON.stringify(bad)} cannot address a topic`)
})

t.test('a command request is validated: unknown fields, bad durations and bad retries are 400s', async (t) => {
  t.same(parseCommandRequest({ command: 'reboot' }, defaults), { command: 'reboot', args: {}, timeoutMs: 30_000, retries: 2 })
  t.same(parseCommandRequest({ command: 'set', args: { a: 1 }, timeout: '250ms', retries: 0 }, defaults),
    { command: 'set', args: { a: 1 }, timeoutMs: 250, retries: 0 })
  t.equal(parseCommandRequest({ command: 'x', timeout: 2 }, defaults).timeoutMs, 2000, 'a number is seconds')
  const cases: Array<[unknown, string]> = [
    [null, 'bad_request'], [[], 'bad_request'], ['reboot', 'bad_request'],
    [{}, 'bad_command'], [{ command: '' }, 'bad_command'], [{ command: 7 }, 'bad_command'], [{ command: 'x'.repeat(257) }, 'bad_command'],
    [{ command: 'x', extra: 1 }, 'unknown_field'], [{ command: 'x', args: [1] }, 'bad_args'], [{ command: 'x', args: 'a' }, 'bad_args'],
    [{ command: 'x', timeout: '10 parsecs' }, 'bad_duration'], [{ command: 'x', timeout: 0 }, 'bad_duration'],
    [{ command: 'x', timeout: -1 }, 'bad_duration'], [{ command: 'x', timeout: '6m' }, 'bad_duration'], [{ command: 'x', timeout: true }, 'bad_duration'],
    [{ command: 'x', retries: -1 }, 'bad_retries'], [{ command: 'x', retries: 1.5 }, 'bad_retries'], [{ command: 'x', retries: 11 }, 'bad_retries'],
    [{ command: 'x', retries: '1' }, 'bad_retries']
  ]
  for (const [body, code] of cases) {
    try {
      parseCommandRequest(body, defaults)
      t.fail(`${JSON.stringify(body)} was accepted`)
    } catch (err) {
      t.ok(err instanceof ApiError && err.statusCode === 400 && err.vigilCode === code, `${JSON.stringify(body)} -> 400 ${code}`)
    }
  }
})

t.test('acks parse only when they carry an id and status ok or error', async (t) => {
  t.same(parseAck('{"id":"a","status":"ok","result":{"x":1}}'), { id: 'a', status: 'ok', result: { x: 1 } })
  t.same(parseAck(Buffer.from('{"id":"a","status":"error"}')), { id: 'a', status: 'error', result: null })
  for (const bad of ['', 'nope', '[]', '{"status":"ok"}', '{"id":1,"status":"ok"}', '{"id":"a","status":"done"}']) {
    t.equal(parseAck(bad), null, `${JSON.stringify(bad)} is not an ack`)
  }
  const payload = JSON.parse(commandPayload('id-1', { command: 'c', args: { a: 1 }, timeoutMs: 1, retries: 0 }, 123).toString())
  t.same(payload, { id: 'id-1', command: 'c', args: { a: 1 }, ts: 123 })
  t.equal(isCommandId('5a0c9b8e-8f5e-4c1a-9f57-0c2f0e3b7a11'), true)
  t.equal(isCommandId('../../etc'), false)
})

function runnerWith (onPublish: (topic: string, payload: Buffer, n: number) => void) {
  let sends = 0
  const scheduler = new ManualScheduler(1000)
  const runner = new CommandRunner({
    scheduler,
    publish: async (topic, payload) => { sends++; onPublish(topic, payload, sends) }
  })
  return { runner, scheduler, sends: () => sends, advance: (ms: number) => scheduler.advance(ms) }
}

/** Let the runner reach its next wait, then move time by `stepMs`, until `run` settles. */
async function drive<T> (run: Promise<T>, advance: (ms: number) => void, stepMs: number): Promise<T> {
  let settled = false
  void run.finally(() => { settled = true })
  while (!settled) {
    await new Promise((resolve) => setImmediate(resolve))
    if (!settled) advance(stepMs)
  }
  return await run
}

t.test('the runner settles on the first ack from the right device and ignores the rest', async (t) => {
  const h = runnerWith(() => {})
  const run = h.runner.run({ id: 'c1', clientId: 'd1', topic: 'devices/d1/commands', payload: Buffer.from('x'), timeoutMs: 5000, retries: 2 })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(h.runner.deliverAck('d2', { id: 'c1', status: 'ok', result: 'spoof' }), false, 'another device\'s ack never matches')
  h.advance(42)
  t.equal(h.runner.deliverAck('d1', { id: 'c1', status: 'ok', result: 'done' }), true)
  t.equal(h.runner.deliverAck('d1', { id: 'c1', status: 'error', result: 'dup' }), false, 'a duplicate ack is ignored')
  t.same(await run, { status: 'acked', result: 'done', attempts: 1, latencyMs: 42 })
  t.equal(h.runner.pending, 0)
  t.equal(h.runner.deliverAck('d1', { id: 'c1', status: 'ok', result: 'late' }), false, 'a late ack is ignored')
})

t.test('the runner re-sends the same bytes on timeout and reports every attempt', async (t) => {
  const payloads: string[] = []
  const h = runnerWith((_topic, payload) => { payloads.push(payload.toString()) })
  const outcome = await drive(h.runner.run({ id: 'c2', clientId: 'd1', topic: 't', payload: Buffer.from('same'), timeoutMs: 20, retries: 2 }), h.advance, 20)
  t.same(outcome, { status: 'timeout', attempts: 3 })
  t.same(payloads, ['same', 'same', 'same'])

  const h2 = runnerWith((_t, _p, n) => { if (n === 2) h2.scheduler.after(5, () => h2.runner.deliverAck('d1', { id: 'c3', status: 'error', result: 'E42' })) })
  const failed = await drive(h2.runner.run({ id: 'c3', clientId: 'd1', topic: 't', payload: Buffer.from('p'), timeoutMs: 30, retries: 3 }), h2.advance, 5)
  t.match(failed, { status: 'failed', result: 'E42', attempts: 2 })
})

t.test('an ack arriving during a send is kept for that attempt; close aborts waiting commands', async (t) => {
  const h = runnerWith(() => { h.runner.deliverAck('d1', { id: 'c4', status: 'ok', result: 1 }) })
  t.match(await h.runner.run({ id: 'c4', clientId: 'd1', topic: 't', payload: Buffer.from('p'), timeoutMs: 10_000, retries: 0 }), { status: 'acked', attempts: 1 })
  const h2 = runnerWith(() => {})
  const waiting = h2.runner.run({ id: 'c5', clientId: 'd1', topic: 't', payload: Buffer.from('p'), timeoutMs: 10_000, retries: 5 })
  await new Promise((resolve) => setImmediate(resolve))
  h2.runner.close()
  t.same(await waiting, { status: 'aborted', attempts: 1 })
})

t.test('the memory command store is bounded and forgets records after their TTL', async (t) => {
  let clock = 0
  const store = new MemoryCommandStore(() => clock, 3, 1000)
  for (let i = 0; i < 5; i++) await store.put('d', { id: `c${i}`, status: 'timeout', attempts: 1 })
  t.equal(store.size, 3)
  t.equal(await store.get('d', 'c0'), undefined, 'the oldest went first')
  t.match(await store.get('d', 'c4'), { id: 'c4' })
  t.equal(await store.get('other', 'c4'), undefined, 'records are per device')
  clock = 1000
  t.equal(await store.get('d', 'c4'), undefined, 'expired')
})
