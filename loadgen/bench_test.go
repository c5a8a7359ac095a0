package loadgen

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/tuning/stats"
)

// BenchmarkPacingAccuracy runs the shared schedule alone (4 goroutines, no
// broker) for one second per iteration at 10k and 100k msg/s and reports
// the achieved share of the target and the publish delay's p99.
func BenchmarkPacingAccuracy(b *testing.B) {
	for _, rate := range []float64{10000, 100000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			var ratios []float64
			h := newHist()
			for b.Loop() {
				start := time.Now()
				s := newSchedule(start, rate, 0)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				var sent [4]int64
				var mu sync.Mutex
				var wg sync.WaitGroup
				for g := range sent {
					wg.Add(1)
					go func() {
						defer wg.Done()
						local := newHist()
						for {
							_, due := s.take()
							if s.sleepUntil(ctx, due) != nil {
								break
							}
							recordUs(local, int64(time.Since(start))-due)
							sent[g]++
						}
						mu.Lock()
						h.Merge(local)
						mu.Unlock()
					}()
				}
				wg.Wait()
				cancel()
				var n int64
				for _, x := range sent {
					n += x
				}
				ratios = append(ratios, float64(n)/(rate*time.Since(start).Seconds()))
			}
			b.ReportMetric(stats.Median(ratios), "achieved/target")
			b.ReportMetric(float64(h.ValueAtQuantile(99)), "delay-p99-us")
		})
	}
}
