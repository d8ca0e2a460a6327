import t from 'tap'
import { livenessScenarios } from './liveness-scenarios.js'

// Each scenario has its own broker (and Redis) and mostly waits on liveness timers: four at a time.
t.jobs = 4
livenessScenarios(t, 'memory')
