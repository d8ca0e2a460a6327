/**
 * A raw MQTT 5 connection whose replies are read by mqtt-packet's parser: for
 * tests that send packets mqtt.js would not (a No Local shared subscription,
 * a bad ShareName) and check the reason codes that come back. (Tests of the
 * bytes themselves, User Property order included, use raw-mqtt5.ts, which
 * does not go through the parser the broker patches.)
 */
import type { Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { rawSocket } from '../helpers/clients.js'
import type { Teardown } from './teardown.js'
import { waitFor } from './wait.js'

/** Every packet the broker sent, in order, and whether it closed. */
export interface Raw5 { socket: Socket, packets: mqttPacket.Packet[], closed: Promise<void>, send(p: Partial<mqttPacket.Packet>): void, connack: mqttPacket.IConnackPacket }

export async function raw5 (t: Teardown, port: number, connect: Partial<mqttPacket.IConnectPacket>): Promise<Raw5> {
  const socket = await rawSocket(t, port)
  const packets: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  parser.on('packet', (p) => packets.push(p))
  socket.on('data', (d: Buffer) => parser.parse(d))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const send = (p: Partial<mqttPacket.Packet>): void => { socket.write(mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 5 })) }
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60, clean: true, ...connect } as mqttPacket.IConnectPacket)
  const connack = await waitFor(() => packets.find((p) => p.cmd === 'connack'), 5000, 'CONNACK') as mqttPacket.IConnackPacket
  return { socket, packets, closed, send, connack }
}
