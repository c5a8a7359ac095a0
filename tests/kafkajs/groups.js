#!/usr/bin/env node
// kafkajs against brokerlab: two group consumers join one group, then a
// producer writes N messages to TOPIC (which must exist); the consumers must
// together see every message exactly once and commit offsets that add up to
// N. Prints a JSON summary; exit status 0 on success, 1 on failure.
//
// usage: node groups.js BROKER TOPIC N
'use strict'

const { args, client } = require('./cli')

const { broker, topic, n } = args('groups.js')
const kafka = client('brokerlab-kafkajs', broker)
const groupId = `kafkajs-${topic}`
const start = Date.now()
const deadline = start + 90000
const phases = {} // phase -> ms since start

async function until (what, fn) {
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function main () {
  const seen = new Map() // value -> times consumed
  const perConsumer = [0, 0]
  const assigned = [false, false]
  const consumers = [0, 1].map(() => kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 20000, maxWaitTimeInMs: 250 }))
  const admin = kafka.admin()
  const producer = kafka.producer()
  try {
    for (const [i, c] of consumers.entries()) {
      c.on(c.events.GROUP_JOIN, e => {
        const parts = Object.values(e.payload.memberAssignment).reduce((a, ps) => a + ps.length, 0)
        assigned[i] = parts > 0
      })
      await c.connect()
      await c.subscribe({ topic, fromBeginning: true })
      await c.run({
        autoCommitInterval: 200,
        eachMessage: async ({ message }) => {
          const v = message.value.toString()
          seen.set(v, (seen.get(v) || 0) + 1)
          perConsumer[i]++
        }
      })
    }
    // Produce only once both members hold partitions, so no rebalance
    // runs while messages are consumed.
    await until('both consumers to get partitions', async () => assigned[0] && assigned[1])
    phases.joined = Date.now() - start

    await producer.connect()
    for (let i = 0; i < n; i += 100) {
      const messages = []
      for (let j = i; j < Math.min(n, i + 100); j++) messages.push({ key: `k-${j}`, value: `m-${j}` })
      await producer.send({ topic, messages })
    }

    phases.produced = Date.now() - start
    await until(`${n} messages consumed`, async () => seen.size >= n)
    phases.consumed = Date.now() - start

    await admin.connect()
    let committed = 0
    await until('committed offsets to add up', async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
      committed = offsets[0].partitions.reduce((sum, p) => sum + Math.max(0, parseInt(p.offset, 10)), 0)
      return committed >= n
    })
    phases.committed = Date.now() - start

    const duplicates = [...seen.values()].filter(c => c > 1).length
    const summary = { consumed: perConsumer[0] + perConsumer[1], unique: seen.size, duplicates, perConsumer, committed, phases }
    console.log(JSON.stringify(summary))
    return summary.unique === n && duplicates === 0 && committed === n && perConsumer.every(c => c > 0)
  } finally {
    await producer.disconnect().catch(() => {})
    await admin.disconnect().catch(() => {})
    for (const c of consumers) await c.disconnect().catch(() => {})
  }
}

main().then(ok => process.exit(ok ? 0 : 1), err => {
  console.error(err)
  process.exit(1)
})
