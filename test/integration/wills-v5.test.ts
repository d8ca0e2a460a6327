/** The wills tests with MQTT 5 devices (Aedes 2); subscribers and raw 3.1.1 sockets stay as they are. */
import { devices } from './wills-helpers.js'

devices.protocolVersion = 5
await import('./wills.test.js')
