'use strict'
// What the scripts here share: the command line BROKER TOPIC N, and a
// kafkajs client of BROKER that logs warnings only and retries 10 times.

const { Kafka, logLevel } = require('kafkajs')

// args returns the command line's broker, topic and message count n, or
// exits with status 2 and script's usage when one is missing.
function args (script) {
  const [broker, topic, nArg] = process.argv.slice(2)
  const n = parseInt(nArg, 10)
  if (!broker || !topic || !(n > 0)) {
    console.error(`usage: node ${script} BROKER TOPIC N`)
    process.exit(2)
  }
  return { broker, topic, n }
}

// client is a kafkajs client of broker named clientId.
function client (clientId, broker) {
  return new Kafka({ clientId, brokers: [broker], logLevel: logLevel.WARN, retry: { retries: 10 } })
}

module.exports = { args, client }
