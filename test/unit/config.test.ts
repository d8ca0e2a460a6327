import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { formatDuration, parseDuration } from '../../config/duration.js'
import { applyEnv, editDistance, envKeys, formatConfig, loadConfig, nearest, parseConfig } from '../../config/load.js'
import { configSchema } from '../../config/schema.js'

const configError = (fn: () => unknown): string => {
  try { fn() } catch (err) { return (err as Error).message }
  throw new Error('expected a config error')
}

t.test('durations accept seconds as numbers and unit strings', async (t) => {
  t.equal(parseDuration(90), 90_000)
  t.equal(parseDuration(0.25), 250)
  t.equal(parseDuration('250ms'), 250)
  t.equal(parseDuration('90s'), 90_000)
  t.equal(parseDuration('5m'), 300_000)
  t.equal(parseDuration('2h'), 7_200_000)
  t.equal(parseDuration('7d'), 604_800_000)
  t.equal(parseDuration('30'), 30_000)
  t.equal(parseDuration('5 weeks'), null)
  t.equal(parseDuration(-1), null)
  t.equal(parseDuration('ms'), null)
  t.equal(formatDuration(90_000), '90s')
  t.equal(formatDuration(2_592_000_000), '30d')
  t.equal(formatDuration(250), '250ms')
})

t.test('defaults match the contract and config/default.yaml', async (t) => {
  const defaults = parseConfig({})
  t.equal(defaults.mqtt.port, 1883)
  t.same(defaults.mqtt.ws, { port: 8083, path: '/mqtt' })
  t.equal(defaults.mqtt.tls, null)
  t.equal(defaults.mqtt.maxPacketSize, 262144)
  t.equal(defaults.mqtt.connectTimeout, 10_000)
  t.equal(defaults.http?.port, 8080)
  t.equal(defaults.persistence.redis, null)
  t.equal(defaults.liveness.silentAfter, 90_000)
  t.same(defaults.liveness.heartbeatTopics, ['#'])
  t.equal(defaults.liveness.statusTopic, '$liveness/{clientId}')
  t.equal(defaults.liveness.forgetAfter, 30 * 86_400_000)
  t.equal(defaults.wills.tsUnit, 's')
  t.equal(defaults.retained.sweepInterval, 60_000)
  t.equal(defaults.commands.retries, 2)
  const fromYaml = parseConfig(parseYaml(readFileSync(new URL('../../config/default.yaml', import.meta.url), 'utf8')))
  t.same(fromYaml, defaults, 'default.yaml documents exactly the schema defaults')
})

t.test('unknown keys are an error naming the key', async (t) => {
  t.match(configError(() => parseConfig({ mqtt: { prot: 1 } })), /unknown key mqtt\.prot .*allowed here: host, port/)
  t.match(configError(() => parseConfig({ bogus: true })), /unknown key bogus/)
  t.match(configError(() => parseConfig({ retained: { expire: [{ topic: 'a', maxAge: 1, x: 1 }] } })), /unknown key retained\.expire\.0\.x/)
})

t.test('bad values name the key, the value and what is allowed', async (t) => {
  t.match(configError(() => parseConfig({ mqtt: { port: 70000 } })), /mqtt\.port = 70000 is invalid: expected an integer port from 0 to 65535/)
  t.match(configError(() => parseConfig({ liveness: { silentAfter: '5 weeks' } })), /liveness\.silentAfter = "5 weeks" is invalid: expected a duration/)
  t.match(configError(() => parseConfig({ wills: { tsUnit: 'us' } })), /wills\.tsUnit = "us" .*s or ms/)
  t.match(configError(() => parseConfig({ liveness: { heartbeatTopics: ['a/#/b'] } })), /liveness\.heartbeatTopics\.0 = "a\/#\/b"/)
  t.match(configError(() => parseConfig({ liveness: { statusTopic: 'status/all' } })), /liveness\.statusTopic .*\{clientId\}/)
  t.match(configError(() => parseConfig({ persistence: { redis: 'localhost:6379' } })), /persistence\.redis .*redis:\/\//)
  t.match(configError(() => parseConfig({ http: { token: 'short' } })), /http\.token .*16 characters/)
})

t.test('environment overrides are named from the key path', async (t) => {
  const names = envKeys().map((k) => k.name)
  t.ok(names.includes('VIGIL_MQTT_PORT'))
  t.ok(names.includes('VIGIL_LIVENESS_SILENT_AFTER'))
  t.ok(names.includes('VIGIL_PERSISTENCE_REDIS'))
  t.ok(names.includes('VIGIL_MQTT_WS'))
  const config = parseConfig(applyEnv({ mqtt: { port: 1 } }, {
    VIGIL_MQTT_PORT: '1884',
    VIGIL_LIVENESS_SILENT_AFTER: '30s',
    VIGIL_PERSISTENCE_REDIS: 'redis://127.0.0.1:6379',
    VIGIL_LIVENESS_HEARTBEAT_TOPICS: '["devices/+/heartbeat"]',
    VIGIL_NODE_ID: '12345',
    VIGIL_MQTT_WS: 'null',
    PATH: '/bin'
  }))
  t.equal(config.mqtt.port, 1884, 'env wins over the file')
  t.equal(config.liveness.silentAfter, 30_000)
  t.equal(config.persistence.redis, 'redis://127.0.0.1:6379')
  t.same(config.liveness.heartbeatTopics, ['devices/+/heartbeat'])
  t.equal(config.node.id, '12345', 'a textual key keeps digits as text')
  t.equal(config.mqtt.ws, null)
  t.match(configError(() => applyEnv({}, { VIGIL_MQTT_PROT: '1' })), /unknown variable VIGIL_MQTT_PROT/)
  t.match(configError(() => loadConfig({ env: { VIGIL_MQTT_PORT: 'abc' } })), /mqtt\.port = "abc"/)
})

t.test('check-config output reads back to the same config', async (t) => {
  const config = parseConfig({ liveness: { silentAfter: '30s', rules: [{ clients: 'sensor-*', silentAfter: 10 }] }, http: { token: 'x'.repeat(20) } })
  const printed = formatConfig(config)
  t.match(printed, /silentAfter: 30s/)
  t.notMatch(printed, /xxxxxxxxxxxxxxxxxxxx/, 'the token is not printed')
  const back = parseConfig(parseYaml(printed.replace('<redacted>', 'x'.repeat(20))))
  t.same(back, config)
})

t.test('a config file that is not YAML is a clear error', async (t) => {
  t.match(configError(() => loadConfig({ file: '/nonexistent/vigil.yaml', env: {} })), /cannot be read/)
  t.ok(configSchema)
})

t.test('a bad environment value is reported under its variable, not the file', async (t) => {
  const message = configError(() => loadConfig({ file: undefined, env: { VIGIL_MQTT_PORT: 'abc' } }))
  t.match(message, /^environment VIGIL_MQTT_PORT: mqtt\.port = "abc" is invalid: expected an integer port/)
  const whole = configError(() => loadConfig({ env: { VIGIL_MQTT_WS: '{ port: -1 }' } }))
  t.match(whole, /^environment VIGIL_MQTT_WS: mqtt\.ws\.port = -1 is invalid/, 'a section set whole names its variable')
})

t.test('every config error is reported at once, one line each', async (t) => {
  const message = configError(() => parseConfig({ mqtt: { port: 'x', maxConections: 5 }, wills: { tsUnit: 'us' }, bogus: 1 }, 'bad.yaml'))
  const lines = message.split('\n')
  t.equal(lines.length, 4, message)
  t.ok(lines.every((line) => line.startsWith('bad.yaml: ')), 'each line names the file')
  t.match(message, /bad\.yaml: mqtt\.port = "x" is invalid/)
  t.match(message, /bad\.yaml: wills\.tsUnit = "us" is invalid: expected s or ms/)
  t.match(message, /unknown key mqtt\.maxConections \(did you mean maxConnections\? allowed here: host, port/)
  t.match(message, /unknown key bogus/)
})

t.test('file and environment problems come together; unknown variables get a suggestion', async (t) => {
  const message = configError(() => loadConfig({ env: { VIGIL_MQTT_PROT: '1', VIGIL_LIVENESS_SILENT_AFTER: 'soon' } }))
  t.match(message, /environment: unknown variable VIGIL_MQTT_PROT \(did you mean VIGIL_MQTT_PORT\?\)/)
  t.match(message, /environment VIGIL_LIVENESS_SILENT_AFTER: liveness\.silentAfter = "soon" is invalid/)
  t.equal(message.split('\n').length, 2)
})

t.test('did-you-mean: the nearest key within a few edits, nothing for a word far from all', async (t) => {
  t.equal(nearest('maxConnection', ['host', 'port', 'maxConnections', 'maxPacketSize']), 'maxConnections')
  t.equal(nearest('silentafter', ['silentAfter', 'forgetAfter']), 'silentAfter', 'case does not count')
  t.equal(nearest('prot', ['host', 'port']), 'port')
  t.equal(nearest('completelyelse', ['host', 'port']), null)
  t.equal(editDistance('kitten', 'sitting'), 3)
})
