import { readFileSync } from 'node:fs'
import t from 'tap'
import { startBroker, subscribed } from '../helpers/broker.js'
import { passwordFile } from '../helpers/auth.js'
import { makePki } from '../helpers/certs.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { mosquittoAvailable, run } from '../helpers/mosquitto-auth.js'

const skip = !mosquittoAvailable()

t.test('mTLS with certificateIdentity: the CN is the username, mosquitto_pub/sub with --cafile/--cert/--key', { skip }, async (t) => {
  const pki = makePki(t)
  const dev = pki.client('dev-1')
  const dashboard = pki.client('dashboard')
  const broker = await startBroker(t, {
    mqtt: { tls: { port: 0, cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true } },
    auth: { certificateIdentity: true, clientIdMustMatch: 'certificate', aclFile: null }
  })
  const port = String(broker.ports.tls)
  const tls = ['-h', '127.0.0.1', '-p', port, '--cafile', pki.ca]
  const subscribing = subscribed(broker, 'dashboard')
  const sub = run('mosquitto_sub', [...tls, '--cert', dashboard.cert, '--key', dashboard.key, '-i', 'dashboard', '-t', 'devices/#', '-C', '1', '-W', '8', '-v'])
  // Wait until the dashboard's subscription is in place (Aedes handled its SUBSCRIBE).
  await waitFor(() => broker.services.need('liveness').get('dashboard')?.state === 'online', 5000, 'the subscriber')
  await subscribing
  const pub = await run('mosquitto_pub', [...tls, '--cert', dev.cert, '--key', dev.key, '-i', 'dev-1', '-t', 'devices/dev-1/heartbeat', '-m', 'hi', '-q', '1'])
  t.equal(pub.code, 0, pub.stderr)
  const got = await sub
  t.equal(got.stdout.trim(), 'devices/dev-1/heartbeat hi')
  t.equal(broker.services.need('liveness').get('dev-1')?.state !== undefined, true)

  const wrongId = await run('mosquitto_pub', [...tls, '--cert', dev.cert, '--key', dev.key, '-i', 'dev-2', '-t', 'x', '-m', 'x', '-q', '1'])
  t.not(wrongId.code, 0, 'a certificate for dev-1 cannot connect as dev-2 (CONNACK 2)')
  t.match(await broker.metrics.getSingleMetricAsString('vigil_auth_failures_total'), /reason="client_id"\} 1/)

  const accepted = (await broker.metrics.getSingleMetricAsString('vigil_connections_total'))
  const noCert = await run('mosquitto_pub', [...tls, '-i', 'nocert', '-t', 'x', '-m', 'x'])
  t.not(noCert.code, 0, 'no client certificate: the TLS handshake fails')
  const other = makePki(t, 'other-ca')
  const stranger = other.client('dev-1')
  const badCert = await run('mosquitto_pub', [...tls, '--cert', stranger.cert, '--key', stranger.key, '-i', 'dev-1', '-t', 'x', '-m', 'x'])
  t.not(badCert.code, 0, 'a certificate from another CA: the TLS handshake fails')
  t.equal(await broker.metrics.getSingleMetricAsString('vigil_connections_total'), accepted, 'neither reached CONNECT')
})

t.test('a TLS listener with -u/-P: mosquitto_pub --cafile against Vigil; plain TCP without a certificate needs a password', { skip }, async (t) => {
  const pki = makePki(t)
  const file = passwordFile(t, { dev: 'pw' })
  const broker = await startBroker(t, {
    mqtt: { tls: { port: 0, cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: false } },
    auth: { passwordFile: file }
  })
  const sub = await connectClient(t, broker.url, { clientId: 'watch', username: 'dev', password: 'pw' })
  const got = collect(sub)
  await subscribe(sub, 't/#', 1)
  const tls = ['-h', '127.0.0.1', '-p', String(broker.ports.tls), '--cafile', pki.ca]
  t.equal((await run('mosquitto_pub', [...tls, '-u', 'dev', '-P', 'pw', '-i', 'p1', '-t', 't/ok', '-m', '1', '-q', '1'])).code, 0)
  t.not((await run('mosquitto_pub', [...tls, '-u', 'dev', '-P', 'no', '-i', 'p2', '-t', 't/bad', '-m', '1', '-q', '1'])).code, 0)
  await waitFor(() => got.find((m) => m.topic === 't/ok'), 5000, 'the TLS publish')
  t.notOk(got.find((m) => m.topic === 't/bad'))
  t.ok(readFileSync(pki.ca).length > 0)
})
