/**
 * A forked load worker: receives one WorkerJob over IPC, runs the publishers,
 * answers with the result and exits. Spawned by runPublishersSpread.
 */
import { runPublishers, topicOf, type WorkerJob } from './publisher-load.js'

process.once('message', (m) => {
  const job = m as WorkerJob
  runPublishers({ ...job, topic: topicOf(job.topicTemplate) }).then(
    (result) => { process.send?.({ ok: true, result }, () => process.exit(0)) },
    (err: Error) => { process.send?.({ ok: false, error: err.message }, () => process.exit(1)) }
  )
})
