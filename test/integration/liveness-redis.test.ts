import t from 'tap'
import { livenessScenarios } from './liveness-scenarios.js'

livenessScenarios(t, 'redis')
