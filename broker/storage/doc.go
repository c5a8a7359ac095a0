// Package storage is brokerlab's log: Kafka's on-disk layout, written with
// plain write(2) appends through the page cache and read back as byte
// ranges for sendfile(2).
package storage
