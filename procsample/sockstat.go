package procsample

import "github.com/prometheus/procfs"

// SockStat holds the TCP line of /proc/net/sockstat.
type SockStat struct {
	SocketsUsed int `json:"sockets_used"`
	TCPInUse    int `json:"tcp_inuse"`
	TCPOrphan   int `json:"tcp_orphan"`
	TCPTimeWait int `json:"tcp_tw"`
	TCPAlloc    int `json:"tcp_alloc"`
	TCPMemPages int `json:"tcp_mem_pages"` // pages charged to TCP, compared with net.ipv4.tcp_mem
}

// ReadSockStat reads procRoot/net/sockstat with procfs.
func ReadSockStat(procRoot string) (SockStat, error) {
	s, err := readProcFS(procRoot, "reading net/sockstat", procfs.FS.NetSockstat)
	if err != nil {
		return SockStat{}, err
	}
	return sockStatFrom(s), nil
}

func sockStatFrom(s *procfs.NetSockstat) SockStat {
	v := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	out := SockStat{SocketsUsed: v(s.Used)}
	for _, p := range s.Protocols {
		if p.Protocol != "TCP" {
			continue
		}
		out.TCPInUse, out.TCPOrphan, out.TCPTimeWait = p.InUse, v(p.Orphan), v(p.TW)
		out.TCPAlloc, out.TCPMemPages = v(p.Alloc), v(p.Mem)
	}
	return out
}
