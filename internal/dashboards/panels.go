package dashboards

// Broker is the broker's own view: its traffic, request latency, the log's
// fsync latency, errors and rolls, memory and the Go runtime.
func Broker() Dashboard {
	const v = "instance"
	return Dashboard{
		File: "broker.json", UID: "brokerlab-broker", Title: "brokerlab / broker",
		Description: "The project's broker: produce and fetch traffic, the zero-copy share, request and fsync latency, storage errors and rolls, memory and GC.",
		Vars:        []Var{{Name: v, Label: "Broker", Job: "broker"}},
		Panels: []Panel{
			{Title: "Produced records/s", Unit: "ops", Targets: []Target{
				{rate("brokerlab_broker_produced_records_total", v), "records"},
				{rate("brokerlab_broker_produced_batches_total", v), "batches"},
			}},
			{Title: "Network bytes/s", Unit: "Bps", Targets: []Target{
				{rate("brokerlab_broker_network_received_bytes_total", v), "received"},
				{rate("brokerlab_broker_network_sent_bytes_total", v), "sent"},
			}},
			{Title: "Fetch record bytes/s by path", Unit: "Bps", Targets: []Target{
				{rate("brokerlab_broker_fetch_sendfile_bytes_total", v), "sendfile"},
				{rate("brokerlab_broker_fetch_copy_bytes_total", v), "copy"},
			}},
			{Title: "Zero-copy share of fetched bytes", Unit: "percentunit", Targets: []Target{
				{rate("brokerlab_broker_fetch_sendfile_bytes_total", v) + " / (" + rate("brokerlab_broker_fetch_sendfile_bytes_total", v) + " + " + rate("brokerlab_broker_fetch_copy_bytes_total", v) + ")", "sendfile share"},
			}},
			{Title: "Requests/s by API", Unit: "reqps", Targets: []Target{
				{"sum by (api) (" + rate("brokerlab_broker_requests_total", v) + ")", "{{api}}"},
			}},
			{Title: "Request duration by API", Description: "From a request's arrival to its response written; Fetch includes its long-poll wait.", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_broker_request_duration_seconds", v, "api"), "p99 {{api}}"},
				{quantile("0.5", "brokerlab_broker_request_duration_seconds", v, "api"), "p50 {{api}}"},
			}},
			{Title: "fsync latency (fdatasync of segments)", Description: "The log's own timing of fdatasync(2); the kernel view shows the same calls seen by the eBPF probes.", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_broker_storage_sync_duration_seconds", v), "p99"},
				{quantile("0.5", "brokerlab_broker_storage_sync_duration_seconds", v), "p50"},
				{rate("brokerlab_broker_storage_syncs_avoided_total", v), "avoided/s (group commit)"},
			}},
			{Title: "Storage errors/s", Description: "Write, sync and read failures answered with KAFKA_STORAGE_ERROR.", Unit: "ops", Targets: []Target{
				{rate("brokerlab_broker_storage_errors_total", v), "storage errors"},
				{rate("brokerlab_broker_storage_rejected_appends_total", v), "rejected appends"},
			}},
			{Title: "Segment rolls and retention", Unit: "ops", Targets: []Target{
				{rate("brokerlab_broker_storage_segment_rolls_total", v), "rolls/s"},
				{rate("brokerlab_broker_storage_retention_deleted_segments_total", v), "deleted by retention/s"},
			}},
			{Title: "Connections", Unit: "short", Targets: []Target{
				{sel("brokerlab_broker_connections", v), "open"},
				{"sum by (reason) (" + rate("brokerlab_broker_connection_errors_total", v) + ")", "closed: {{reason}}/s"},
			}},
			{Title: "Memory", Unit: "bytes", Targets: []Target{
				{sel("process_resident_memory_bytes", v), "RSS"},
				{sel("go_memstats_heap_inuse_bytes", v), "heap in use"},
			}},
			{Title: "GC CPU share", Description: "CPU time spent on garbage collection (mark assists, background workers, pauses) as a share of the CPU time available to the Go runtime: runtime/metrics /cpu/classes/gc/total over /cpu/classes/total. An estimate refreshed at each GC, not pause time.", Unit: "percentunit", Targets: []Target{
				{rate("go_cpu_classes_gc_total_cpu_seconds_total", v) + " / " + rate("go_cpu_classes_total_cpu_seconds_total", v), "GC"},
			}},
			{Title: "Goroutines", Unit: "short", Targets: []Target{
				{sel("go_goroutines", v), "goroutines"},
			}},
		},
	}
}

// Host is the machine seen by node_exporter: page cache, swap, disks,
// TCP and CPU.
func Host() Dashboard {
	const v = "instance"
	return Dashboard{
		File: "host.json", UID: "brokerlab-host", Title: "brokerlab / host",
		Description: "The machine under the broker, from node_exporter: page cache, swap, disk throughput and latency, TCP, CPU.",
		Vars:        []Var{{Name: v, Label: "Host", Job: "node"}},
		Panels: []Panel{
			{Title: "Page cache and dirty pages", Unit: "bytes", Targets: []Target{
				{sel("node_memory_Cached_bytes", v), "cached"},
				{sel("node_memory_Dirty_bytes", v), "dirty"},
				{sel("node_memory_Writeback_bytes", v), "writeback"},
			}},
			{Title: "Swap pages/s", Unit: "ops", Targets: []Target{
				{rate("node_vmstat_pswpin", v), "in"},
				{rate("node_vmstat_pswpout", v), "out"},
			}},
			{Title: "Major page faults/s", Unit: "ops", Targets: []Target{
				{rate("node_vmstat_pgmajfault", v), "major faults"},
			}},
			{Title: "Disk bytes/s", Unit: "Bps", Targets: []Target{
				{rate("node_disk_written_bytes_total", v), "{{device}} written"},
				{rate("node_disk_read_bytes_total", v), "{{device}} read"},
			}},
			{Title: "Disk latency (mean per request)", Description: "Time requests spent queued and in service, per completed request (/proc/diskstats: ms reading over reads completed, likewise for writes).", Unit: "s", Targets: []Target{
				{rate("node_disk_write_time_seconds_total", v) + " / " + rate("node_disk_writes_completed_total", v), "{{device}} write"},
				{rate("node_disk_read_time_seconds_total", v) + " / " + rate("node_disk_reads_completed_total", v), "{{device}} read"},
			}},
			{Title: "Disk busy", Unit: "percentunit", Targets: []Target{
				{rate("node_disk_io_time_seconds_total", v), "{{device}}"},
			}},
			{Title: "TCP retransmits/s", Unit: "ops", Targets: []Target{
				{rate("node_netstat_Tcp_RetransSegs", v), "retransmitted segments"},
			}},
			{Title: "TCP memory", Unit: "short", Targets: []Target{
				{sel("node_sockstat_TCP_mem", v), "pages"},
				{sel("node_sockstat_TCP_inuse", v), "sockets in use"},
			}},
			{Title: "CPU", Unit: "short", Targets: []Target{
				{"sum by (mode) (" + rate("node_cpu_seconds_total", v) + ")", "{{mode}}"},
			}},
		},
	}
}

// Kernel is the kernel's view of the broker, from the eBPF probes that
// `lab probe -listen` serves, beside the broker's own metrics for the same
// question.
func Kernel() Dashboard {
	const (
		b = "instance" // the broker
		p = "probe"    // lab probe -listen, scoped to the broker's pid or cgroup
	)
	return Dashboard{
		File: "kernel.json", UID: "brokerlab-kernel", Title: "brokerlab / kernel view",
		Description: "What the kernel saw the broker do, from the lab's eBPF probes (lab probe -listen, scoped to the broker's pid or cgroup), beside the broker's own metrics.",
		Vars:        []Var{{Name: b, Label: "Broker", Job: "broker"}, {Name: p, Label: "Probes", Job: "probe"}},
		Panels: []Panel{
			{Title: "fdatasync latency: kernel vs broker", Description: "p99 of fdatasync(2) from the syscall tracepoints, and the broker's own timing of the same calls.", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_probe_fsync_fdatasync_latency_seconds", p), "p99 kernel (syscall)"},
				{quantile("0.99", "brokerlab_broker_storage_sync_duration_seconds", b), "p99 broker"},
			}},
			{Title: "Block request latency", Description: "Issue to completion of block requests (block_rq_issue/complete), all of the device's requests.", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_probe_fsync_block_rq_latency_seconds", p), "p99"},
				{quantile("0.5", "brokerlab_probe_fsync_block_rq_latency_seconds", p), "p50"},
			}},
			{Title: "Page-cache hit ratio", Description: "Page accesses that found the page cached, over all page accesses (mm_filemap_get_pages vs mm_filemap_add_to_page_cache).", Unit: "percentunit", Targets: []Target{
				{rate("brokerlab_probe_pagecache_hit_pages_total", p) + " / " + rate("brokerlab_probe_pagecache_access_pages_total", p), "hit ratio"},
			}},
			{Title: "Page-cache pages/s", Unit: "ops", Targets: []Target{
				{rate("brokerlab_probe_pagecache_access_pages_total", p), "accessed"},
				{rate("brokerlab_probe_pagecache_insert_pages_total", p) + " - " + rate("brokerlab_probe_pagecache_write_insert_pages_total", p), "read misses"},
				{rate("brokerlab_probe_pagecache_evict_pages_total", p), "evicted"},
			}},
			{Title: "Swap", Description: "Swap-ins of the broker's pages and their fault-to-mapped latency.", Unit: "short", Targets: []Target{
				{rate("brokerlab_probe_swap_swapin_pages_total", p), "swap-in pages/s"},
				{rate("brokerlab_probe_swap_swapout_pages_total", p), "swap-out pages/s"},
				{rate("brokerlab_probe_swap_page_faults_total", p), "page faults/s"},
			}},
			{Title: "Socket send buffer", Description: "Share of sends that found the send buffer full (EAGAIN) or 70% full, and the p99 fill.", Unit: "percentunit", Targets: []Target{
				{rate("brokerlab_probe_sockbuf_send_eagain_total", p) + " / " + rate("brokerlab_probe_sockbuf_sends_total", p), "EAGAIN share"},
				{rate("brokerlab_probe_sockbuf_sends_fill_over_70_total", p) + " / " + rate("brokerlab_probe_sockbuf_sends_total", p), ">=70% full share"},
				{quantile("0.99", "brokerlab_probe_sockbuf_send_fill_ratio", p), "p99 fill"},
			}},
			{Title: "TCP round-trip time", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_probe_sockbuf_srtt_seconds", p), "p99 srtt"},
				{quantile("0.5", "brokerlab_probe_sockbuf_srtt_seconds", p), "p50 srtt"},
			}},
			{Title: "Zero-copy share: kernel vs broker", Description: "TCP bytes sent inside sendfile(2) over all TCP bytes sent (kernel), and the broker's sendfile share of fetched record bytes.", Unit: "percentunit", Targets: []Target{
				{rate("brokerlab_probe_sendfile_socket_bytes_sendfile_total", p) + " / (" + rate("brokerlab_probe_sendfile_socket_bytes_sendfile_total", p) + " + " + rate("brokerlab_probe_sendfile_socket_bytes_copy_total", p) + ")", "kernel"},
				{rate("brokerlab_broker_fetch_sendfile_bytes_total", b) + " / (" + rate("brokerlab_broker_fetch_sendfile_bytes_total", b) + " + " + rate("brokerlab_broker_fetch_copy_bytes_total", b) + ")", "broker"},
			}},
			{Title: "sendfile calls", Unit: "s", Targets: []Target{
				{quantile("0.99", "brokerlab_probe_sendfile_latency_seconds", p), "p99 latency"},
				{rate("brokerlab_probe_sendfile_calls_total", p), "calls/s"},
			}},
			{Title: "Probe families attached", Description: "1 when a family's probes are attached, 0 when the kernel could not load them.", Unit: "short", Targets: []Target{
				{sel("brokerlab_probe_family_up", p), "{{family}}"},
			}},
		},
	}
}
