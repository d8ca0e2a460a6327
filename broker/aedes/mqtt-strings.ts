/**
 * MQTT UTF-8 encoded strings [MQTT-1.5.3]. Pure: no Aedes, no clock.
 *
 * mqtt-packet decodes every string with Buffer#toString('utf8'), which turns
 * ill-formed bytes (stray continuation bytes, overlong forms, encoded
 * surrogates U+D800..U+DFFF) into U+FFFD and carries on. A decoded string
 * without U+FFFD therefore came from well-formed bytes; only a string that has
 * one (rare: a client may also send U+FFFD itself) needs its raw bytes checked.
 */
import { isUtf8 } from 'node:buffer'

export type StringProblem = 'invalid_utf8' | 'null_character'

/** Where the raw bytes of a string are: mqtt-packet's buffer list, or a Buffer. */
export interface RawBytes { slice(start: number, end: number): Uint8Array }

/**
 * Why `decoded` (the parser's reading of `raw` from `start` to `end`) is not a
 * legal MQTT string, or null. [MQTT-1.5.3-1] ill-formed UTF-8 (surrogates
 * included) and [MQTT-1.5.3-2] U+0000 close the connection. Control
 * characters and non-characters are only "SHOULD NOT" [MQTT-1.5.3-3 ff.]:
 * allowed, as the spec allows (Mosquitto 2 refuses them; Vigil is not
 * stricter than the spec). Allocates nothing unless the string has a U+FFFD.
 */
export function stringProblem (decoded: string, raw: RawBytes, start: number, end: number): StringProblem | null {
  if (decoded.indexOf('\u0000') !== -1) return 'null_character'
  if (decoded.indexOf('\uFFFD') !== -1 && !isUtf8(raw.slice(start, end))) return 'invalid_utf8'
  return null
}

export const STRING_PROBLEM_TEXT: Record<StringProblem, string> = {
  invalid_utf8: 'a string is not well-formed UTF-8 [MQTT-1.5.3-1]',
  null_character: 'a string contains U+0000 [MQTT-1.5.3-2]'
}
