#!/usr/bin/env node
// kafkajs transactions against brokerlab: a transactional producer commits
// one transaction and aborts another, then a read_committed consumer
// (kafkajs' default isolation) and a read_uncommitted one read TOPIC (which
// must exist) from the start. The committed consumer must see exactly the
// committed records, the uncommitted one both transactions' records. A
// second transaction commits an offset for a group with sendOffsets; the
// group must then hold it. Prints a JSON summary; exit status 0 on
// success, 1 on failure.
//
// usage: node transactions.js BROKER TOPIC N
'use strict'

const { args, client } = require('./cli')

const { broker, topic, n } = args('transactions.js')
const kafka = client('brokerlab-kafkajs-txn', broker)
const deadline = Date.now() + 90000

async function readAll (readUncommitted, want) {
  const seen = []
  const consumer = kafka.consumer({ groupId: `read-${readUncommitted}-${topic}`, readUncommitted, maxWaitTimeInMs: 250 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value.toString()) } })
  // Wait for want records, then a little longer for any extra one.
  while (seen.length < want && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  await new Promise(resolve => setTimeout(resolve, 1000))
  await consumer.disconnect()
  return seen.sort()
}

async function main () {
  const producer = kafka.producer({ transactionalId: `kafkajs-${topic}`, maxInFlightRequests: 1, idempotent: true })
  await producer.connect()
  const committed = []
  const aborted = []
  let txn = await producer.transaction()
  for (let i = 0; i < n; i++) committed.push(`committed-${i}`)
  await txn.send({ topic, messages: committed.map(value => ({ value })) })
  await txn.commit()
  txn = await producer.transaction()
  for (let i = 0; i < n; i++) aborted.push(`aborted-${i}`)
  await txn.send({ topic, messages: aborted.map(value => ({ value })) })
  await txn.abort()
  txn = await producer.transaction()
  await txn.send({ topic, messages: [{ value: 'with-offsets' }] })
  await txn.sendOffsets({ consumerGroupId: `offsets-${topic}`, topics: [{ topic, partitions: [{ partition: 0, offset: '42' }] }] })
  await txn.commit()
  await producer.disconnect()

  const wantCommitted = committed.concat(['with-offsets']).sort()
  const gotCommitted = await readAll(false, wantCommitted.length)
  const wantAll = committed.concat(aborted, ['with-offsets']).sort()
  const gotAll = await readAll(true, wantAll.length)

  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchOffsets({ groupId: `offsets-${topic}`, topics: [topic] })
  await admin.disconnect()
  const groupOffset = offsets[0].partitions.find(p => p.partition === 0).offset

  const ok = JSON.stringify(gotCommitted) === JSON.stringify(wantCommitted) &&
    JSON.stringify(gotAll) === JSON.stringify(wantAll) && groupOffset === '42'
  console.log(JSON.stringify({ ok, read_committed: gotCommitted.length, want_committed: wantCommitted.length, read_uncommitted: gotAll.length, want_all: wantAll.length, group_offset: groupOffset }))
  process.exit(ok ? 0 : 1)
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
