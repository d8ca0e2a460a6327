/**
 * Every matching Subscription Identifier on a delivered PUBLISH [MQTT-3.3.4-4]
 * (issue 20, found by test/conformance5/ beside Mosquitto 2). A client with
 * overlapping subscriptions gets one copy of a message (Aedes' dedupe, and
 * delivery-dedupe.ts), and aedes 2.0.0-beta.1 puts only the identifier of
 * the subscription that copy came through on it (its own comment calls this
 * a known limitation). The spec wants them all on that one copy.
 *
 * Installed around authorizeForward, which Aedes calls for the one copy that
 * is sent. Only a copy that already carries an identifier pays for the look
 * over that client's subscriptions; every other delivery pays one property
 * read. A copy that came through a subscription without an identifier, while
 * another matching one has one, still carries none: rare, and left as is.
 */
import type { Aedes, Client } from 'aedes'
import { topicMatches } from '../topic-match.js'
import { subscriptionsOf } from './client-fields.js'
import { realFilter } from './shared-subscriptions.js'

type Ids = number | number[]

/** The identifiers of every subscription of `client` that matches `topic`, in subscription order. */
function matchingIds (client: Client, topic: string): number[] {
  const ids: number[] = []
  const subs = subscriptionsOf(client) as Record<string, { si?: number } | undefined>
  for (const filter in subs) {
    const si = subs[filter]?.si
    if (si !== undefined && topicMatches(realFilter(filter), topic) && !ids.includes(si)) ids.push(si)
  }
  return ids
}

export function forwardAllSubscriptionIds (broker: Aedes): void {
  const inner = broker.authorizeForward.bind(broker)
  broker.authorizeForward = (client, packet) => {
    const out = inner(client, packet)
    const props = out?.properties as { subscriptionIdentifier?: Ids } | undefined
    if (out == null || props?.subscriptionIdentifier === undefined || client.version !== 5) return out
    const ids = matchingIds(client, out.topic)
    if (ids.length <= 1) return out
    // A fresh properties object: the one on the packet is shared by every subscriber's copy.
    return { ...out, properties: { ...out.properties, subscriptionIdentifier: ids } } as typeof out
  }
}
