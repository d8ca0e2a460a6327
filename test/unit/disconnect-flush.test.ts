/**
 * broker/aedes/disconnect-flush.ts on a bare Aedes over a real socket, with
 * the DISCONNECT held in the server socket's buffer when Aedes closes (as when
 * write coalescing or a full kernel buffer holds it): bare Aedes destroys the
 * socket and the client never gets it; with the patch it is flushed, then the
 * connection ends. Deterministic: the buffer is held by corking the socket.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes, type Client } from 'aedes'
import t from 'tap'
import { flushDisconnects } from '../../broker/aedes/index.js'
import { DISCONNECT, rawConnect5, type RawSession5 } from '../support/raw-mqtt5.js'
import { waitFor } from '../support/wait.js'
import type { Teardown } from '../support/teardown.js'

async function broker (t: Teardown, patched: boolean): Promise<{ port: number, clients: Client[] }> {
  const aedes = new Aedes()
  if (patched) flushDisconnects(aedes)
  await aedes.listen()
  const clients: Client[] = []
  const server = createServer((socket) => { clients.push(aedes.handle(socket) as unknown as Client) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.close(); aedes.close(() => resolve()) }))
  return { port: (server.address() as AddressInfo).port, clients }
}

/** Disconnect the one client with 0x98 while its socket holds every write; resolves when the client side is closed. */
async function heldDisconnect (t: Teardown, patched: boolean): Promise<RawSession5> {
  const { port, clients } = await broker(t, patched)
  const s = await rawConnect5(t, port, `held-${String(patched)}`)
  const client = clients[0] as unknown as { conn: Socket, disconnect(o: object, done: () => void): void }
  client.conn.cork()
  let done = false
  client.disconnect({ reasonCode: 0x98 }, () => { done = true })
  await waitFor(() => done && s.closed, 10_000, 'closed')
  return s
}

t.test('bare Aedes: a DISCONNECT still in the socket\'s buffer is lost when it closes (why the patch exists)', async (t) => {
  const s = await heldDisconnect(t, false)
  t.same(s.packets.map((p) => p.type), [2], 'only the CONNACK arrived')
})

t.test('with flushDisconnects: the DISCONNECT is flushed, then the connection ends', async (t) => {
  const s = await heldDisconnect(t, true)
  t.same(s.packets.map((p) => p.type), [2, DISCONNECT], 'CONNACK, then the DISCONNECT')
  t.equal(s.packets[1]?.body[0], 0x98, 'reason 0x98')
})
