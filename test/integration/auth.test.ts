import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { aclFile, connackCode, grantedQos, passwordFile } from '../helpers/auth.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { mosquittoAvailable, run, startMosquittoWith, tempDir } from '../helpers/mosquitto-auth.js'
import { VIGIL_MAIN, envWithoutVigil, withoutTapHooks } from '../helpers/vigil-process.js'
import { metricValue } from '../support/prom-text.js'
import { freePort } from '../support/ports.js'

const skip = !mosquittoAvailable()

// Every case has its own broker, files and processes and mostly waits for them: three at a time.
t.jobs = 3

t.test('a mosquitto_passwd file: right password in, wrong password CONNACK 4, none CONNACK 5, each counted', { skip }, async (t) => {
  const file = passwordFile(t, { 'dev-1': 'one', 'dev-2': 'two' })
  const broker = await startBroker(t, { auth: { passwordFile: file } })
  for (const reason of ['bad_credentials', 'anonymous', 'banned', 'client_id']) {
    t.equal(await metricValue(broker.metrics, 'vigil_auth_failures_total', { reason }), 0, `${reason} present at 0`)
  }
  t.equal(await connackCode(broker.url, { clientId: 'dev-1', username: 'dev-1', password: 'one' }), 0)
  t.equal(await connackCode(broker.url, { clientId: 'dev-1', username: 'dev-1', password: 'two' }), 4)
  t.equal(await connackCode(broker.url, { clientId: 'x', username: 'nobody', password: 'one' }), 4, 'an unknown user is bad credentials')
  t.equal(await connackCode(broker.url, { clientId: 'anon' }), 5)
  t.equal(await metricValue(broker.metrics, 'vigil_auth_failures_total', { reason: 'bad_credentials' }), 2)
  t.equal(await metricValue(broker.metrics, 'vigil_auth_failures_total', { reason: 'anonymous' }), 1)
  t.equal(await connackCode(broker.url, { clientId: 'dev-1', username: 'dev-1', password: 'one' }), 0, 'a cached credential verifies again')
})

t.test('clientIdMustMatch: a thief with its own valid password cannot take over another device (CONNACK 2)', { skip }, async (t) => {
  const file = passwordFile(t, { victim: 'v', thief: 't' })
  const broker = await startBroker(t, { auth: { passwordFile: file, clientIdMustMatch: 'username' } })
  const victim = await connectClient(t, broker.url, { clientId: 'victim', username: 'victim', password: 'v' })
  t.equal(await connackCode(broker.url, { clientId: 'victim', username: 'thief', password: 't' }), 2)
  t.equal(await metricValue(broker.metrics, 'vigil_auth_failures_total', { reason: 'client_id' }), 1)
  await victim.publishAsync('devices/victim/heartbeat', 'x', { qos: 1 })
  t.ok(victim.connected, 'the victim keeps its connection')
  t.equal(broker.services.need('liveness').get('victim')?.state, 'online')
  t.equal(broker.services.need('liveness').get('victim')?.epoch, 1, 'no epoch went to the thief')
})

t.test('failureBan: after `attempts` bad passwords the address gets CONNACK 5 even with the right one', { skip }, async (t) => {
  const file = passwordFile(t, { u: 'right' })
  const broker = await startBroker(t, { auth: { passwordFile: file, failureBan: { attempts: 3, window: '60s', ban: '60s' } } })
  for (let i = 0; i < 3; i++) t.equal(await connackCode(broker.url, { clientId: `c${i}`, username: 'u', password: 'wrong' }), 4)
  t.equal(await connackCode(broker.url, { clientId: 'c9', username: 'u', password: 'right' }), 5)
  t.equal(await metricValue(broker.metrics, 'vigil_auth_failures_total', { reason: 'banned' }), 1)
})

t.test('anonymous clients are refused when allowAnonymous is false; $SYS is closed to anonymous clients otherwise', { skip }, async (t) => {
  const closed = await startBroker(t, { auth: { allowAnonymous: false } })
  t.equal(await connackCode(closed.url, { clientId: 'a' }), 5)
  const open = await startBroker(t)
  const anon = await connectClient(t, open.url, { clientId: 'anon' })
  t.equal(await grantedQos(anon, '$SYS/#'), 128, '$SYS/# refused to an anonymous client')
  t.equal(await metricValue(open.metrics, 'vigil_acl_denied_total', { action: 'subscribe' }), 1)
})

t.test('a non-loopback listener with no auth stops start-up with exit 2 and one line saying what to set', async (t) => {
  const child = spawn(...withoutTapHooks(process.execPath, [VIGIL_MAIN]), { env: { ...envWithoutVigil(), VIGIL_MQTT_HOST: '0.0.0.0', VIGIL_MQTT_PORT: '0', VIGIL_HTTP: 'null', VIGIL_MQTT_WS: 'null' }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 2)
  t.equal(stderr.trim().split('\n').length, 1, stderr)
  t.match(stderr, /auth\.allowAnonymous.*auth\.passwordFile or auth\.certificateIdentity/)
})

t.test('vigil passwd writes files a real mosquitto accepts, and reads mosquitto_passwd files', { skip }, async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'passwd')
  t.equal((await run(...withoutTapHooks(process.execPath, [VIGIL_MAIN, 'passwd', '--stdin', file, 'vigil-made']), 'from vigil\n')).code, 0)
  t.equal((await run('mosquitto_passwd', ['-b', file, 'mosq-made', 'from mosquitto'])).code, 0)
  t.equal((await run(...withoutTapHooks(process.execPath, [VIGIL_MAIN, 'passwd', '--stdin', file, 'gone']), 'x\n')).code, 0)
  t.equal((await run(...withoutTapHooks(process.execPath, [VIGIL_MAIN, 'passwd', '--delete', file, 'gone']))).code, 0)
  t.notMatch(readFileSync(file, 'utf8'), /from vigil|gone/, 'no clear password, deleted user gone')
  t.equal((await run(...withoutTapHooks(process.execPath, [VIGIL_MAIN, 'passwd', file]))).code, 2, 'no terminal and no --stdin: usage error')
  const mosquitto = await startMosquittoWith(t, ['allow_anonymous false', `password_file ${file}`], { username: 'vigil-made', password: 'from vigil' })
  t.equal(await connackCode(mosquitto.url, { clientId: 'm1', username: 'vigil-made', password: 'from vigil' }), 0, 'mosquitto accepts a Vigil-made line')
  t.not(await connackCode(mosquitto.url, { clientId: 'm2', username: 'vigil-made', password: 'nope' }), 0)
  const broker = await startBroker(t, { auth: { passwordFile: file } })
  t.equal(await connackCode(broker.url, { clientId: 'v1', username: 'mosq-made', password: 'from mosquitto' }), 0, 'Vigil accepts a mosquitto-made line')
  t.equal(await connackCode(broker.url, { clientId: 'v2', username: 'vigil-made', password: 'from vigil' }), 0)
  t.equal(await connackCode(broker.url, { clientId: 'v3', username: 'gone', password: 'x' }), 4)
})

t.test('mosquitto_pub with -u/-P against Vigil', { skip }, async (t) => {
  const file = passwordFile(t, { pub: 'secret', sub: 'secret' })
  const broker = await startBroker(t, { auth: { passwordFile: file } })
  const sub = await connectClient(t, broker.url, { clientId: 'sub', username: 'sub', password: 'secret' })
  const got = collect(sub)
  await subscribe(sub, 'x/#', 1)
  const port = String(broker.ports.mqtt)
  t.equal((await run('mosquitto_pub', ['-p', port, '-i', 'p1', '-u', 'pub', '-P', 'secret', '-t', 'x/1', '-m', 'hello', '-q', '1'])).code, 0)
  t.not((await run('mosquitto_pub', ['-p', port, '-i', 'p2', '-u', 'pub', '-P', 'wrong', '-t', 'x/2', '-m', 'bad', '-q', '1'])).code, 0)
  await waitFor(() => got.find((m) => m.topic === 'x/1'), 5000, 'the authenticated publish')
  t.notOk(got.find((m) => m.topic === 'x/2'))
})

t.test('SIGHUP reload: a removed user is kicked, others stay, a new user gets in, a bad file keeps the old one', { skip }, async (t) => {
  const file = passwordFile(t, { keep: 'k', drop: 'd' })
  const acl = aclFile(t, 'user keep\ntopic readwrite a/#\nuser drop\ntopic readwrite a/#\n')
  const broker = await startBroker(t, { auth: { passwordFile: file, aclFile: acl } })
  const keep = await connectClient(t, broker.url, { clientId: 'keep', username: 'keep', password: 'k' })
  const drop = await connectClient(t, broker.url, { clientId: 'drop', username: 'drop', password: 'd' })
  // A heartbeat makes it a device (a client that never publishes is an observer, forgotten when it goes).
  await drop.publishAsync('a/heartbeat', '{}', { qos: 1 })
  const dropClosed = new Promise<void>((resolve) => drop.once('close', () => resolve()))
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('drop:'))
  writeFileSync(file, lines.join('\n'))
  await run('mosquitto_passwd', ['-b', file, 'new', 'n'])
  writeFileSync(acl, 'user keep\ntopic read a/#\n')
  await broker.services.need('auth').reload()
  await dropClosed
  await waitFor(() => broker.services.need('liveness').get('drop')?.state === 'offline', 3000, 'drop offline')
  t.equal(broker.services.need('liveness').get('drop')?.reason, 'kicked')
  t.ok(keep.connected, 'a user still in the file stays connected')
  t.equal(await connackCode(broker.url, { clientId: 'new', username: 'new', password: 'n' }), 0)
  const got = collect(keep)
  await subscribe(keep, 'a/#', 1)
  await keep.publishAsync('a/mine', 'not any more', { qos: 1 })
  t.ok(keep.connected, 'a denied QoS 1 PUBLISH is acked and the client stays')
  const other = await connectClient(t, broker.url, { clientId: 'new2', username: 'new', password: 'n' })
  t.ok(other.connected)
  t.equal(await metricValue(broker.metrics, 'vigil_acl_denied_total', { action: 'publish' }), 1, 'the new ACL applies to the next packet')
  t.same(got, [])
  writeFileSync(acl, 'bogus line\n')
  await t.rejects(broker.services.need('auth').reload(), /line 1/)
  t.ok(keep.connected)
})

t.test('SIGHUP to a real vigil process re-reads the password file: the removed user is disconnected', { skip }, async (t) => {
  const file = passwordFile(t, { stay: 's', leave: 'l' })
  const { startVigilProcess } = await import('../helpers/vigil-process.js')
  const port = String(await freePort())
  const { child, url } = await startVigilProcess(t, {
    VIGIL_MQTT_PORT: port, VIGIL_MQTT_WS: 'null', VIGIL_HTTP: 'null', VIGIL_AUTH_PASSWORD_FILE: file, VIGIL_AUTH_ALLOW_ANONYMOUS: 'true'
  })
  const stay = await connectClient(t, url, { clientId: 'stay', username: 'stay', password: 's' })
  const leave = await connectClient(t, url, { clientId: 'leave', username: 'leave', password: 'l' })
  const left = new Promise<void>((resolve) => leave.once('close', () => resolve()))
  writeFileSync(file, readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('leave:')).join('\n'))
  child.kill('SIGHUP')
  await left
  await stay.publishAsync('still/here', 'x', { qos: 1 })
  t.ok(stay.connected, 'the user still in the file keeps its connection')
  t.equal(await connackCode(url, { clientId: 'leave', username: 'leave', password: 'l' }), 4)
})
