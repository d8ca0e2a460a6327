/**
 * Topic names and topic filters [MQTT-4.7]. Pure: no Aedes, no clock.
 * Aedes 1.2's own check (lib/utils.js validateTopic) lets `a+`, `+a` and `a/b+`
 * through, and mqemitter then matches them literally; Mosquitto 2 closes the
 * connection, and so does Vigil.
 */

/**
 * Why `filter` is not a legal topic filter, or null. [MQTT-4.7.3-1] at least
 * one character; [MQTT-4.7.1-2] '#' alone in the last level; [MQTT-4.7.1-3] '+'
 * alone in its level.
 */
export function filterProblem (filter: string): string | null {
  if (filter.length === 0) return 'an empty topic filter [MQTT-4.7.3-1]'
  let levelStart = 0
  for (let i = 0; i <= filter.length; i++) {
    const code = i < filter.length ? filter.charCodeAt(i) : 47
    if (code === 35) { // '#'
      if (i !== levelStart || i !== filter.length - 1) return `'#' must be the whole last level in ${filter} [MQTT-4.7.1-2]`
    } else if (code === 43) { // '+'
      if (i !== levelStart || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== 47)) {
        return `'+' must be a whole level in ${filter} [MQTT-4.7.1-3]`
      }
    } else if (code === 47) { // '/'
      levelStart = i + 1
    }
  }
  return null
}

/** Why `topic` is not a legal topic name (PUBLISH, will), or null [MQTT-4.7.1-1], [MQTT-4.7.3-1]. */
export function topicNameProblem (topic: string): string | null {
  if (topic.length === 0) return 'an empty topic name [MQTT-4.7.3-1]'
  if (topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) return `wildcards in the topic name ${topic} [MQTT-4.7.1-1]`
  return null
}

/** [MQTT-4.7.2-1] a filter starting with a wildcard never matches a topic starting with '$'. */
export function startsWithWildcard (filter: string): boolean {
  const code = filter.charCodeAt(0)
  return code === 43 || code === 35
}
