/**
 * A CONNECT flood, forked so that it does not share the broker's event loop:
 * `rate` CONNECTs a second with a wrong password for `seconds`, each on a new
 * TCP connection, closed once the CONNACK (or the close) comes. Reports the
 * CONNACK codes it saw over IPC.
 *   argv: port rate seconds
 */
import { connect } from 'node:net'
import mqttPacket from 'mqtt-packet'

const [port, rate, seconds] = process.argv.slice(2).map(Number) as [number, number, number]
const codes: Record<string, number> = {}
let sent = 0
let open = 0
const one = (i: number): void => {
  open++
  const socket = connect({ port, host: '127.0.0.1' })
  const done = (code: string): void => {
    if (socket.destroyed) return
    codes[code] = (codes[code] ?? 0) + 1
    socket.destroy()
    open--
  }
  socket.on('error', () => done('error'))
  socket.once('data', (data: Buffer) => done(String(data[3])))
  socket.once('close', () => done('closed'))
  socket.once('connect', () => socket.write(mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `flood-${i}`, keepalive: 30,
    username: `dev-${i % 100}`, password: Buffer.from('wrong password')
  })))
}
// Never outlive the test that forked it.
process.on('disconnect', () => process.exit(0))
const hardStop = setTimeout(() => process.exit(1), (seconds + 30) * 1000)
hardStop.unref()
const started = Date.now()
const timer = setInterval(() => {
  const elapsed = Date.now() - started
  if (elapsed >= seconds * 1000) {
    clearInterval(timer)
    const wait = setInterval(() => {
      if (open > 0) return
      clearInterval(wait)
      process.send?.({ sent, codes })
      process.disconnect?.()
    }, 50)
    return
  }
  // Paced by the clock, not by the timer's ticks: a late tick sends what it owes.
  const due = Math.floor(elapsed * rate / 1000)
  while (sent < due) one(sent++)
}, 10)
