/**
 * A simulated device (real mqtt.js client) that follows the command protocol
 * of docs/device-protocol.md: subscribe to its command topic at QoS 1, answer on
 * its ack topic as the test says.
 */
import type { MqttClient } from 'mqtt'
import { connectClient } from '../helpers/clients.js'

import type { Teardown } from './teardown.js'

export interface Command { id: string, command: string, args: unknown, ts: number }
export type Answer = (command: Command, received: number) => Array<{ status: string, result?: unknown }> | null

export interface SimDevice {
  client: MqttClient
  /** Every command received, in order (retries included). */
  commands: Command[]
}

export async function simDevice (t: Teardown, url: string, clientId: string, answer: Answer): Promise<SimDevice> {
  const client = await connectClient(t, url, { clientId })
  const commands: Command[] = []
  client.on('message', (topic, payload) => {
    if (topic !== `devices/${clientId}/commands`) return
    const command = JSON.parse(payload.toString()) as Command
    commands.push(command)
    for (const ack of answer(command, commands.length) ?? []) {
      client.publish(`devices/${clientId}/commands/ack`, JSON.stringify({ id: command.id, ...ack }), { qos: 1 })
    }
  })
  await client.subscribeAsync(`devices/${clientId}/commands`, { qos: 1 })
  return { client, commands }
}
