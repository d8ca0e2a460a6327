import t from 'tap'
import { livenessScenarios } from './liveness-scenarios.js'

// The liveness scenarios with MQTT 5 devices (Aedes 2), beside 3.1.1 observers.
livenessScenarios(t, 'memory', 5)
