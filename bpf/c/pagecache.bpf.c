//go:build ignore

// pagecache.bpf.c: page-cache accesses, misses, write inserts and evictions.
//
//   accesses: tp_btf/mm_filemap_get_pages(mapping, index, last_index). The
//     event fires once per folio batch of a read and carries the whole
//     remaining range each time, so repeats of the same read on a thread are
//     de-duplicated and the range is clipped at end of file
//     (mapping->host->i_size); raw sums overcount several-fold.
//   inserts: tracepoint/filemap/mm_filemap_add_to_page_cache, 1 << order pages.
//     An insert followed on the same thread by writeback_dirty_folio for the
//     same (inode, index) came from a write, not a read miss. The last insert
//     of each thread is kept in the inserts map until the next get_pages or
//     writeback_dirty_folio event on that thread consumes it.
//   evictions: tracepoint/filemap/mm_filemap_delete_from_page_cache.
#include "lab.h"

enum pagecache_counter {
	PAGECACHE_CNT_ACCESS_PAGES,
	PAGECACHE_CNT_ACCESS_READS,
	PAGECACHE_CNT_INSERT_PAGES,
	PAGECACHE_CNT_WRITE_INSERT_PAGES,
	PAGECACHE_CNT_EVICT_PAGES,       // system-wide
	PAGECACHE_CNT_EVICT_PAGES_SCOPE, // evicted by a task in scope (e.g. fadvise, truncate)
	PAGECACHE_CNT_MAX,
};

enum pagecache_hist {
	PAGECACHE_HIST_READ_PAGES, // log2 pages per read
	PAGECACHE_HIST_MAX,
};

const enum pagecache_counter *unused_pagecache_counter __attribute__((unused));
const enum pagecache_hist *unused_pagecache_hist __attribute__((unused));

// page_shift is set by the loader from the system page size.
const volatile __u32 page_shift = 12;

LAB_MAPS(PAGECACHE_CNT_MAX, PAGECACHE_HIST_MAX)

struct last_read {
	__u64 mapping;
	__u64 index;
	__u64 last_index;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct last_read);
} reads SEC(".maps");

struct pending_insert {
	__u64 ino;
	__u64 index;
	__u64 pages;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending_insert);
} inserts SEC(".maps");

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(mm_filemap_get_pages, struct address_space *mapping, unsigned long index, unsigned long last_index)
{
	if (!mapping || !lab_in_scope())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct last_read *prev = bpf_map_lookup_elem(&reads, &tid);
	if (prev && prev->mapping == (__u64)mapping && prev->last_index == last_index &&
	    index > prev->index && index <= last_index) {
		// The next batch of a read already counted.
		prev->index = index;
		bpf_map_delete_elem(&inserts, &tid);
		return 0;
	}
	// When the last folio of a read's first batch is locked for I/O,
	// filemap_update_page returns AOP_TRUNCATED_PAGE and filemap_get_pages
	// returns the rest of the batch without firing the event: the first
	// event of that read starts up to one batch (PAGEVEC_SIZE - 1 = 30
	// folios) after the read's real start. For a thread reading the same
	// file sequentially the real start is the page after its previous read:
	// count from there when the gap is smaller than a batch.
	__u64 start = index;
	if (prev && prev->mapping == (__u64)mapping && index > prev->last_index + 1 &&
	    index - (prev->last_index + 1) < 31)
		start = prev->last_index + 1;
	struct last_read cur = { .mapping = (__u64)mapping, .index = index, .last_index = last_index };
	bpf_map_update_elem(&reads, &tid, &cur, BPF_ANY);

	// When a read starts on a page nobody has read ahead, filemap_get_pages
	// creates one folio (filemap_create_folio) and returns without firing
	// the event; the read's next batch fires it starting after that folio.
	// The folio's insert, just before on this thread and adjacent to index,
	// belongs to this read's accesses.
	__u64 created = 0;
	struct pending_insert *ins = bpf_map_lookup_elem(&inserts, &tid);
	if (ins) {
		if (ins->index + ins->pages == index && ins->ino == BPF_CORE_READ(mapping, host, i_ino))
			created = ins->pages;
		bpf_map_delete_elem(&inserts, &tid);
	}

	__s64 isize = BPF_CORE_READ(mapping, host, i_size);
	if (isize <= 0)
		return 0;
	__u64 eof_page = ((__u64)isize - 1) >> page_shift;
	__u64 last = last_index;
	if (last > eof_page)
		last = eof_page;
	if (start > last)
		return 0;
	__u64 pages = last - start + 1;
	if (start == index)
		pages += created;
	lab_count(PAGECACHE_CNT_ACCESS_PAGES, pages);
	lab_count(PAGECACHE_CNT_ACCESS_READS, 1);
	lab_hist_log2(PAGECACHE_HIST_READ_PAGES, pages);
	return 0;
}

SEC("tracepoint/filemap/mm_filemap_add_to_page_cache")
int mm_filemap_add_to_page_cache(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	if (!lab_in_scope())
		return 0;
	__u64 pages = 1ULL << (ctx->order & 63);
	lab_count(PAGECACHE_CNT_INSERT_PAGES, pages);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_insert p = { .ino = ctx->i_ino, .index = ctx->index, .pages = pages };
	bpf_map_update_elem(&inserts, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(writeback_dirty_folio, struct folio *folio, struct address_space *mapping)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_insert *p = bpf_map_lookup_elem(&inserts, &tid);
	if (!p || !folio || !mapping)
		return 0;
	__u64 ino = BPF_CORE_READ(mapping, host, i_ino);
	__u64 index = BPF_CORE_READ(folio, index);
	if (p->ino == ino && p->index == index)
		lab_count(PAGECACHE_CNT_WRITE_INSERT_PAGES, p->pages);
	bpf_map_delete_elem(&inserts, &tid);
	return 0;
}

SEC("tracepoint/filemap/mm_filemap_delete_from_page_cache")
int mm_filemap_delete_from_page_cache(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	__u64 pages = 1ULL << (ctx->order & 63);
	lab_count(PAGECACHE_CNT_EVICT_PAGES, pages);
	if (lab_in_scope())
		lab_count(PAGECACHE_CNT_EVICT_PAGES_SCOPE, pages);
	return 0;
}
