/**
 * MQTT topic filter matching, allocation-free: it runs on hot paths (heartbeat
 * topics per PUBLISH, retained `$` topics per SUBSCRIBE). Pure.
 */

/** [MQTT-4.7.1-2] [MQTT-4.7.2-1]: '#'/'+' match whole levels; a leading wildcard never matches a '$' topic. */
export function topicMatches (filter: string, topic: string): boolean {
  const first = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (first === 35 || first === 43)) return false
  const fl = filter.length
  const tl = topic.length
  let f = 0
  let t = 0
  for (;;) {
    // f and t are at the start of a level in the filter and the topic
    if (filter.charCodeAt(f) === 35) return true
    let fEnd = filter.indexOf('/', f)
    if (fEnd === -1) fEnd = fl
    let tEnd = topic.indexOf('/', t)
    if (tEnd === -1) tEnd = tl
    if (!(fEnd - f === 1 && filter.charCodeAt(f) === 43)) {
      if (fEnd - f !== tEnd - t) return false
      for (let i = 0; i < fEnd - f; i++) if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false
    }
    if (fEnd === fl) return tEnd === tl
    if (tEnd === tl) return fl - fEnd === 2 && filter.charCodeAt(fEnd + 1) === 35 // "a/#" matches "a"
    f = fEnd + 1
    t = tEnd + 1
  }
}
