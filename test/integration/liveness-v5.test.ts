import t from 'tap'
import { livenessScenarios } from './liveness-scenarios.js'

// The liveness scenarios with MQTT 5 devices (Aedes 2), beside 3.1.1 observers.
// Each scenario has its own broker (and Redis) and mostly waits on liveness timers: four at a time.
t.jobs = 4
livenessScenarios(t, 'memory', 5)
