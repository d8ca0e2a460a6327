/**
 * Password and ACL files for auth tests: made by the real mosquitto_passwd
 * (or by `vigil passwd`), written to a temp dir removed with the test.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { tempDir } from './mosquitto-auth.js'

import type { Teardown } from '../support/teardown.js'

export function passwordFile (t: Teardown, users: Record<string, string>): string {
  const file = join(tempDir(t), 'passwd')
  let first = true
  for (const [user, password] of Object.entries(users)) {
    execFileSync('mosquitto_passwd', [...(first ? ['-c'] : []), '-b', file, user, password])
    first = false
  }
  return file
}

export function aclFile (t: Teardown, text: string): string {
  const file = join(tempDir(t), 'acl')
  writeFileSync(file, text)
  return file
}

/**
 * An ACL for cluster tests whose anonymous watchers read the nodes' heartbeats: every topic,
 * plus $SYS/# (which, with no ACL file, anonymous clients may not read).
 */
export function sysReadableAcl (t: Teardown): string {
  return aclFile(t, 'topic readwrite #\ntopic read $SYS/#\n')
}

/** The CONNACK return code a CONNECT gets (0 = accepted), closing the client either way. */
export function connackCode (url: string, options: IClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options })
    client.once('connect', () => { client.end(true); resolve(0) })
    client.once('error', (err: Error & { code?: number }) => {
      client.end(true)
      if (typeof err.code === 'number') resolve(err.code)
      else reject(err)
    })
  })
}

/** The QoS granted to one filter (128 = refused); mqtt.js rejects a refusal, this resolves it. */
export async function grantedQos (client: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos })
    return granted[0]?.qos ?? -1
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (granted?.[0] !== undefined) return granted[0]
    throw err
  }
}
