import t from 'tap'
import { insightScenarios } from './insights-scenarios.js'

insightScenarios(t, 'memory')
