/**
 * mqtt.ws.tls: MQTT over secure WebSocket (wss://) on the WebSocket listener,
 * with a real client (mqtt.js) and a test certificate made at test time.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'

t.test('mqtt.js over wss:// connects, subscribes and receives; plain ws:// on that port does not connect', async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { mqtt: { ws: { port: 0, path: '/mqtt', tls: { cert: certs.cert, key: certs.key } } } })
  const url = `wss://127.0.0.1:${broker.ports.ws}/mqtt`
  const sub = await connectClient(t, url, { clientId: 'wss-sub', ca: certs.certPem })
  const received = collect(sub)
  await subscribe(sub, ['wss/#', '$liveness/wss-pub'], 1)
  const pub = await connectClient(t, url, { clientId: 'wss-pub', ca: certs.certPem })
  await pub.publishAsync('wss/a', 'over tls', { qos: 1 })
  await waitFor(() => received.find((m) => m.topic === 'wss/a'), 3000, 'the message over wss')
  t.same(received.filter((m) => m.topic === 'wss/a').map((m) => m.payload.toString()), ['over tls'])
  t.ok(received.some((m) => m.topic === '$liveness/wss-pub'), 'liveness tracks wss clients like any other')

  await t.rejects(connectClient(t, `ws://127.0.0.1:${broker.ports.ws}/mqtt`, { clientId: 'plain', connectTimeout: 2000 }),
    'a plain ws:// client is not served on the wss port')
  await t.rejects(connectClient(t, url, { clientId: 'untrusting', connectTimeout: 2000 }),
    'a client that does not trust the certificate is refused by its own TLS check')
})

t.test('unreadable wss key material stops start-up naming the key', async (t) => {
  await t.rejects(startBroker(t, { mqtt: { ws: { port: 0, tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } } } }),
    /mqtt\.ws\.tls\.cert: cannot read \/nonexistent\/cert\.pem/)
})
