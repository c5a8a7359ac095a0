package bpf

import (
	"github.com/cilium/ebpf"
)

// counterDef describes one slot of a family's counters map.
type counterDef struct {
	idx    uint32
	name   string
	unit   Unit
	method string
}

// histDef describes one histogram kind of a family's hists map.
type histDef struct {
	kind   uint32
	name   string
	unit   Unit
	method string
	width  uint64 // linear bucket width; 0 = log2 buckets
	slots  int    // buckets shown (a linear histogram uses fewer than 64)
	sumIdx int    // counter index holding the sum of values, -1 for none
}

// familyDef is everything the loader needs to know about one family. The
// counter and histogram indexes come from the C enums through bpf2go's -type.
type familyDef struct {
	load func() (*ebpf.CollectionSpec, error)
	// setVars writes the scope (and the family's own read-only
	// variables) into the object's rodata through its generated
	// VariableSpecs (rodata.go).
	setVars  func(*ebpf.CollectionSpec, scope) error
	counters []counterDef
	hists    []histDef
	ratios   func(Snapshot) []Ratio
	// extra reads maps beyond counters and hists into s.
	extra func(coll *ebpf.Collection, f *loaded, s *Snapshot) error
}

const (
	mSysFsync     = "tracepoint/syscalls/sys_enter_fsync+sys_exit_fsync"
	mSysFdatasync = "tracepoint/syscalls/sys_enter_fdatasync+sys_exit_fdatasync"
	mSysSFR       = "tracepoint/syscalls/sys_enter_sync_file_range+sys_exit_sync_file_range"
	mBlockRq      = "tp_btf/block_rq_issue+block_rq_complete"
	mGetPages     = "tp_btf/mm_filemap_get_pages"
	mAddPage      = "tracepoint/filemap/mm_filemap_add_to_page_cache"
	mWriteInsert  = "tracepoint/filemap/mm_filemap_add_to_page_cache+tp_btf/writeback_dirty_folio"
	mDeletePage   = "tracepoint/filemap/mm_filemap_delete_from_page_cache"
	mFaults       = "tp_btf/page_fault_user+page_fault_kernel"
	mPswpin       = "tp_btf/count_memcg_events(PSWPIN)"
	mPswpout      = "tp_btf/count_memcg_events(PSWPOUT)"
	mSwapinLat    = "tp_btf/page_fault_user+page_fault_kernel+count_memcg_events(PSWPIN)+rss_stat(MM_SWAPENTS)"
	mSend         = "tp_btf/sock_send_length"
	mRecv         = "tp_btf/sock_recv_length"
	mTCPProbe     = "tp_btf/tcp_probe"
	mExceed       = "tp_btf/sock_exceed_buf_limit"
	mKfreeSkb     = "tp_btf/kfree_skb"
	mSendfile     = "tracepoint/syscalls/sys_enter_sendfile64+sys_exit_sendfile64"
	mZeroCopy     = "tp_btf/sock_send_length inside vs outside tracepoint/syscalls/sys_enter_sendfile64"
)

var familyDefs = map[Family]familyDef{
	FamilyFsync: {
		load: loadFsync, setVars: setFsyncVars,
		counters: []counterDef{
			{uint32(fsyncFsyncCounterFSYNC_CNT_CALLS) + 0, "fsync_calls", UnitEvents, mSysFsync},
			{uint32(fsyncFsyncCounterFSYNC_CNT_CALLS) + 1, "fdatasync_calls", UnitEvents, mSysFdatasync},
			{uint32(fsyncFsyncCounterFSYNC_CNT_CALLS) + 2, "sync_file_range_calls", UnitEvents, mSysSFR},
			{uint32(fsyncFsyncCounterFSYNC_CNT_ERRORS) + 0, "fsync_errors", UnitEvents, mSysFsync},
			{uint32(fsyncFsyncCounterFSYNC_CNT_ERRORS) + 1, "fdatasync_errors", UnitEvents, mSysFdatasync},
			{uint32(fsyncFsyncCounterFSYNC_CNT_ERRORS) + 2, "sync_file_range_errors", UnitEvents, mSysSFR},
			{uint32(fsyncFsyncCounterFSYNC_CNT_BLOCK_RQ), "block_requests", UnitEvents, mBlockRq},
			{uint32(fsyncFsyncCounterFSYNC_CNT_BLOCK_BYTES), "block_bytes", UnitBytes, mBlockRq},
		},
		hists: []histDef{
			{uint32(fsyncFsyncHistFSYNC_HIST_FSYNC_NS), "fsync_latency", UnitNanoseconds, mSysFsync, 0, 64, int(fsyncFsyncCounterFSYNC_CNT_LAT_SUM_NS) + 0},
			{uint32(fsyncFsyncHistFSYNC_HIST_FDATASYNC_NS), "fdatasync_latency", UnitNanoseconds, mSysFdatasync, 0, 64, int(fsyncFsyncCounterFSYNC_CNT_LAT_SUM_NS) + 1},
			{uint32(fsyncFsyncHistFSYNC_HIST_SYNC_FILE_RANGE_NS), "sync_file_range_latency", UnitNanoseconds, mSysSFR, 0, 64, int(fsyncFsyncCounterFSYNC_CNT_LAT_SUM_NS) + 2},
			{uint32(fsyncFsyncHistFSYNC_HIST_BLOCK_RQ_NS), "block_rq_latency", UnitNanoseconds, mBlockRq, 0, 64, int(fsyncFsyncCounterFSYNC_CNT_BLOCK_LAT_SUM_NS)},
		},
	},
	FamilyPageCache: {
		load: loadPagecache, setVars: setPagecacheVars,
		counters: []counterDef{
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_ACCESS_PAGES), "access_pages", UnitPages, mGetPages},
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_ACCESS_READS), "access_reads", UnitEvents, mGetPages},
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_INSERT_PAGES), "insert_pages", UnitPages, mAddPage},
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_WRITE_INSERT_PAGES), "write_insert_pages", UnitPages, mWriteInsert},
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_EVICT_PAGES), "evict_pages_system", UnitPages, mDeletePage},
			{uint32(pagecachePagecacheCounterPAGECACHE_CNT_EVICT_PAGES_SCOPE), "evict_pages", UnitPages, mDeletePage},
		},
		hists: []histDef{
			{uint32(pagecachePagecacheHistPAGECACHE_HIST_READ_PAGES), "read_size", UnitPages, mGetPages, 0, 64, -1},
		},
		ratios: func(s Snapshot) []Ratio {
			acc := s.Value(FamilyPageCache, "access_pages")
			miss := sub(s.Value(FamilyPageCache, "insert_pages"), s.Value(FamilyPageCache, "write_insert_pages"))
			return []Ratio{
				newRatio(FamilyPageCache, "hit_ratio", mGetPages+" vs "+mAddPage, float64(sub(acc, miss)), float64(acc)),
			}
		},
	},
	FamilySwap: {
		load: loadSwap, setVars: setSwapVars,
		counters: []counterDef{
			{uint32(swapSwapCounterSWAP_CNT_SWAPIN_PAGES), "swapin_pages", UnitPages, mPswpin},
			{uint32(swapSwapCounterSWAP_CNT_SWAPIN_FAULTS), "swapin_faults", UnitEvents, mSwapinLat},
			{uint32(swapSwapCounterSWAP_CNT_SWAPOUT_PAGES), "swapout_pages", UnitPages, mPswpout},
			{uint32(swapSwapCounterSWAP_CNT_FAULTS), "page_faults", UnitEvents, mFaults},
		},
		hists: []histDef{
			{uint32(swapSwapHistSWAP_HIST_SWAPIN_NS), "swapin_latency", UnitNanoseconds, mSwapinLat, 0, 64, int(swapSwapCounterSWAP_CNT_SWAPIN_LAT_SUM_NS)},
		},
		extra: readMemcgs,
	},
	FamilySockBuf: {
		load: loadSockbuf, setVars: setSockbufVars,
		counters: []counterDef{
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_SENDS), "sends", UnitEvents, mSend},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_SEND_BYTES), "send_bytes", UnitBytes, mSend},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_SEND_EAGAIN), "send_eagain", UnitEvents, mSend},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_RECVS), "recvs", UnitEvents, mRecv},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_RECV_BYTES), "recv_bytes", UnitBytes, mRecv},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_TCP_PROBES), "tcp_probes", UnitEvents, mTCPProbe},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_EXCEED_BUF_LIMIT), "exceed_buf_limit", UnitEvents, mExceed},
			{uint32(sockbufSockbufCounterSOCKBUF_CNT_DROPS), "drops", UnitEvents, mKfreeSkb},
		},
		hists: []histDef{
			{uint32(sockbufSockbufHistSOCKBUF_HIST_SEND_FILL_PCT), "send_fill", UnitPercent, mSend, 5, 21, -1},
			{uint32(sockbufSockbufHistSOCKBUF_HIST_RECV_FILL_PCT), "recv_fill", UnitPercent, mRecv, 5, 21, -1},
			{uint32(sockbufSockbufHistSOCKBUF_HIST_SRTT_US), "srtt", UnitMicroseconds, mTCPProbe, 0, 64, -1},
			{uint32(sockbufSockbufHistSOCKBUF_HIST_CWND), "snd_cwnd", UnitSegments, mTCPProbe, 0, 64, -1},
			{uint32(sockbufSockbufHistSOCKBUF_HIST_SND_WND), "snd_wnd", UnitBytes, mTCPProbe, 0, 64, -1},
		},
		ratios: func(s Snapshot) []Ratio {
			sends := float64(s.Value(FamilySockBuf, "sends"))
			var full float64
			if h, ok := s.Histogram(FamilySockBuf, "send_fill"); ok {
				for _, b := range h.Buckets {
					if b.Low >= 70 {
						full += float64(b.Count)
					}
				}
			}
			return []Ratio{
				newRatio(FamilySockBuf, "send_eagain_share", mSend, float64(s.Value(FamilySockBuf, "send_eagain")), sends),
				newRatio(FamilySockBuf, "send_fill_over_70_share", mSend, full, sends),
			}
		},
		extra: readDropReasons,
	},
	FamilySendfile: {
		load: loadSendfile, setVars: setSendfileVars,
		counters: []counterDef{
			{uint32(sendfileSendfileCounterSENDFILE_CNT_CALLS), "calls", UnitEvents, mSendfile},
			{uint32(sendfileSendfileCounterSENDFILE_CNT_BYTES), "bytes", UnitBytes, mSendfile},
			{uint32(sendfileSendfileCounterSENDFILE_CNT_ERRORS), "errors", UnitEvents, mSendfile},
			{uint32(sendfileSendfileCounterSENDFILE_CNT_SOCK_BYTES_SENDFILE), "socket_bytes_sendfile", UnitBytes, mZeroCopy},
			{uint32(sendfileSendfileCounterSENDFILE_CNT_SOCK_BYTES_COPY), "socket_bytes_copy", UnitBytes, mZeroCopy},
		},
		hists: []histDef{
			{uint32(sendfileSendfileHistSENDFILE_HIST_LAT_NS), "latency", UnitNanoseconds, mSendfile, 0, 64, int(sendfileSendfileCounterSENDFILE_CNT_LAT_SUM_NS)},
			{uint32(sendfileSendfileHistSENDFILE_HIST_BYTES), "call_size", UnitBytes, mSendfile, 0, 64, int(sendfileSendfileCounterSENDFILE_CNT_BYTES)},
		},
		ratios: func(s Snapshot) []Ratio {
			zc := float64(s.Value(FamilySendfile, "socket_bytes_sendfile"))
			cp := float64(s.Value(FamilySendfile, "socket_bytes_copy"))
			return []Ratio{newRatio(FamilySendfile, "zero_copy_share", mZeroCopy, zc, zc+cp)}
		},
	},
}
