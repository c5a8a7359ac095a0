package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// searchFailStreak is how many consecutive judged windows must fail for a
// search step to fail: one window can stall on a loaded machine (a GC
// pause, a neighbour's burst, a page-cache flush) and recover, which says
// nothing about the rate; an overloaded target fails window after window.
// The OpenMessaging Benchmark's rate search likewise judges a rate over
// several short windows rather than one.
const searchFailStreak = 2

// searchReading is what the max-rate search judges of one window.
type searchReading struct {
	// Seconds is the window's length, Acked the records acknowledged in it.
	Seconds float64
	Acked   int64
	// PublishDelayUs is the window's publish-delay p99, ScheduleLagUs how far
	// behind the schedule the producers ended it.
	PublishDelayUs, ScheduleLagUs int64
	// InFlightGrowth and BacklogGrowth are how much the records waiting for
	// acks in the client and the consumers' backlog grew over the window.
	InFlightGrowth, BacklogGrowth int64
}

// searchSource is what the search runs on: startStep sets the producers'
// rate once as a step begins (nil: nothing to set), so that a step's later
// windows see the lag its earlier ones left; window runs one window at the
// step's rate and reports it; now is the time since the run started.
type searchSource struct {
	startStep func(rate float64)
	window    func(ctx context.Context, rate float64) (searchReading, error)
	now       func() time.Duration
	// subscriptions is the number of subscriptions whose backlog counts; 0
	// = no consumers (backlog growth not judged).
	subscriptions int
}

// search finds the maximum sustainable rate (producerRate 0) with the
// runner's producers and consumers, and returns the rate the measured phase
// runs at.
func (r *runner) search(ctx context.Context) (float64, error) {
	subs := 0
	if len(r.consumers) > 0 {
		subs = r.w.SubscriptionsPerTopic
	}
	src := searchSource{
		now:           func() time.Duration { return time.Duration(r.now()) },
		subscriptions: subs,
		startStep:     r.sched.setRate,
		window: func(ctx context.Context, rate float64) (searchReading, error) {
			before := r.backlog()
			inFlightBefore := r.tot.sent.Load() - r.tot.acked.Load() - r.tot.errs.Load()
			if err := r.phase(ctx, PhaseSearch, r.o.Window, nil); err != nil {
				return searchReading{}, err
			}
			w := r.res.Windows[len(r.res.Windows)-1]
			rd := searchReading{Seconds: w.Seconds, Acked: w.Acked, PublishDelayUs: w.PublishDelay.P99Us,
				ScheduleLagUs: w.ScheduleLagUs, InFlightGrowth: w.InFlight - inFlightBefore}
			if subs > 0 {
				rd.BacklogGrowth = r.backlog() - before
			}
			return rd, nil
		},
	}
	rs, rate, err := searchRate(ctx, r.o, src, r.log)
	r.res.RateSearch = rs
	return rate, err
}

// searchRate runs the max-rate search on src and returns its record and
// the rate the measured phase runs at. The rule is in RateSearch.Method.
func searchRate(ctx context.Context, o Options, src searchSource, log *slog.Logger) (*RateSearch, float64, error) {
	rs := &RateSearch{Method: fmt.Sprintf(
		"ramp and bisect: start at %g msg/s and double the rate while a step passes; after the first failure "+
			"bisect between the highest passing and the lowest failing rate until they are within 10%%, "+
			"for at most %v. A step's first %d window(s) absorb the change; then each window is judged, and the "+
			"step passes at the first window that passes and fails when %d consecutive windows fail (one stall "+
			"of a loaded machine is not a failure). A window passes when "+
			"acknowledgements reach 95%% of the rate, the producers end it at most %v behind the schedule "+
			"(the next slot's lateness, which spikes do not move), records waiting for acks in the client grow by "+
			"less than 10%% of the window's messages, and (with consumers) so does the consumer backlog. The measured "+
			"phase runs at %g x the highest passing rate.",
		o.SearchStartRate, o.SearchMaxDuration, o.SearchStepWindows-1, searchFailStreak, o.DelayLimit, o.SettleRatio)}
	deadline := src.now() + o.SearchMaxDuration
	rate := o.SearchStartRate
	lastGood, lowestBad := 0.0, 0.0
	for {
		step, err := searchStep(ctx, o, src, rate)
		if err != nil {
			return rs, 0, err
		}
		rs.Steps = append(rs.Steps, step)
		log.Info("rate search step", "rate", rate, "ok", step.OK, "reason", step.Reason, "forgiven", step.Forgiven)
		if step.OK {
			lastGood = rate
		} else {
			lowestBad = rate
		}
		switch {
		case lowestBad == 0:
			rate *= 2
		case lastGood == 0:
			rate /= 2
		default:
			rate = (lastGood + lowestBad) / 2
		}
		converged := lastGood > 0 && lowestBad > 0 && lowestBad/lastGood < 1.1
		if converged || src.now() >= deadline || rate < 1 {
			break
		}
	}
	rs.MaxSustainable = lastGood
	if lastGood == 0 {
		// Nothing passed: run at the lowest rate tried, and say so.
		lastGood = rs.Steps[len(rs.Steps)-1].Rate
		rs.Method += fmt.Sprintf(" No step passed; the measured phase runs at the lowest rate tried (%g msg/s).", lastGood)
		rs.SettledRate = lastGood
		return rs, lastGood, nil
	}
	rs.SettledRate = lastGood * o.SettleRatio
	return rs, rs.SettledRate, nil
}

// searchStep runs one step of the search at rate: the settling windows,
// then judged windows until one passes or searchFailStreak fail in a row.
// The step's figures are its last window's.
func searchStep(ctx context.Context, o Options, src searchSource, rate float64) (SearchStep, error) {
	if src.startStep != nil {
		src.startStep(rate)
	}
	for range o.SearchStepWindows - 1 {
		if _, err := src.window(ctx, rate); err != nil {
			return SearchStep{}, err
		}
	}
	var forgiven []string
	for {
		rd, err := src.window(ctx, rate)
		if err != nil {
			return SearchStep{}, err
		}
		step := SearchStep{Rate: rate, PublishDelayUs: rd.PublishDelayUs, ScheduleLagUs: rd.ScheduleLagUs,
			InFlightGrowth: rd.InFlightGrowth, BacklogGrowth: rd.BacklogGrowth}
		if rd.Seconds > 0 {
			step.Achieved = float64(rd.Acked) / rd.Seconds
		}
		why := judgeSearchWindow(o, rate, src.subscriptions, step, rd.Seconds)
		if len(why) == 0 {
			step.OK = true
			step.Forgiven = joinSentences(forgiven)
			return step, nil
		}
		forgiven = append(forgiven, joinSentences(why))
		if len(forgiven) == searchFailStreak {
			step.Reason = joinSentences(why)
			step.FailedWindows = len(forgiven)
			return step, nil
		}
	}
}

// judgeSearchWindow says why one window of a step at rate failed; none when
// it passed.
func judgeSearchWindow(o Options, rate float64, subscriptions int, s SearchStep, seconds float64) []string {
	winMsgs := rate * seconds
	var why []string
	if s.Achieved < 0.95*rate {
		why = append(why, fmt.Sprintf("acknowledged %.0f msg/s < 95%% of %.0f", s.Achieved, rate))
	}
	if lag := time.Duration(s.ScheduleLagUs) * time.Microsecond; lag > o.DelayLimit {
		why = append(why, fmt.Sprintf("producers %v behind schedule > %v", lag, o.DelayLimit))
	}
	if float64(s.InFlightGrowth) > 0.1*winMsgs {
		why = append(why, fmt.Sprintf("%d more records waiting for acks in the client", s.InFlightGrowth))
	}
	if subscriptions > 0 && float64(s.BacklogGrowth) > 0.1*winMsgs*float64(subscriptions) {
		why = append(why, fmt.Sprintf("consumer backlog grew by %d messages", s.BacklogGrowth))
	}
	return why
}

// runBacklog runs the backlog mode: consumers (paused since they started)
// stay paused until the backlog reaches consumerBacklogSizeGB, then resume
// and drain while producers keep producing. Build and drain together are
// bounded by the test duration, so a consumer that cannot drain ends the run
// at the limit instead of hanging.
func (r *runner) runBacklog(ctx context.Context) error {
	size := int64(r.w.MessageSize)
	br := &BacklogResult{TargetBytes: r.w.BacklogBytes()}
	r.res.Backlog = br
	deadline := time.Duration(r.now()) + r.w.TestDuration()
	built := func() bool { return r.backlog()*size >= br.TargetBytes }
	t0 := time.Duration(r.now())
	err := r.phase(ctx, PhaseBuild, deadline-t0, built)
	t1 := time.Duration(r.now())
	br.BuildSeconds = (t1 - t0).Seconds()
	br.BuiltBytes = r.backlog() * size
	br.LeftMessages = r.backlog()
	if err != nil {
		br.StopCondition = "interrupted while building"
		return err
	}
	if !built() {
		br.StopCondition = fmt.Sprintf("time limit %v reached while building (%d of %d bytes)", r.w.TestDuration(), br.BuiltBytes, br.TargetBytes)
		return nil
	}
	for _, c := range r.consumers {
		c.cl.ResumeFetchTopics(r.topics...)
	}
	capacity := br.TargetBytes / size
	minBacklog := max(int64((1-r.w.BacklogDrainRatio)*float64(capacity)), min(1000, capacity/10))
	drained := func() bool { return r.backlog() <= minBacklog }
	recv0 := r.tot.received.Load()
	recvBytes0 := r.tot.receivedBytes.Load()
	err = r.phase(ctx, PhaseDrain, deadline-t1, drained)
	br.DrainSeconds = (time.Duration(r.now()) - t1).Seconds()
	br.Drained = drained()
	br.LeftMessages = r.backlog()
	if br.DrainSeconds > 0 {
		br.DrainRate = float64(r.tot.received.Load()-recv0) / br.DrainSeconds
		br.DrainMBps = float64(r.tot.receivedBytes.Load()-recvBytes0) / br.DrainSeconds / 1e6
	}
	switch {
	case err != nil:
		br.StopCondition = "interrupted while draining"
	case br.Drained:
		br.StopCondition = fmt.Sprintf("drained: backlog %d <= %d messages", br.LeftMessages, minBacklog)
	default:
		br.StopCondition = fmt.Sprintf("time limit %v reached while draining (%d messages left)", r.w.TestDuration(), br.LeftMessages)
	}
	return err
}

// verdict decides whether the run held its target rate.
func verdict(res *Result, heldRatio float64, delayLimit time.Duration) Verdict {
	v := Verdict{TargetHeld: true}
	a := res.Aggregate
	fail := func(format string, args ...any) {
		v.TargetHeld = false
		v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
	}
	if a.Seconds == 0 {
		fail("no measured window: the run ended before its measured phase")
		return v
	}
	if a.TargetRate > 0 {
		v.AchievedRatio = a.PublishRate / a.TargetRate
		if v.AchievedRatio < heldRatio {
			fail("target rate not held: achieved %.0f msg/s = %.1f%% of the target %.0f msg/s (below %.0f%%)",
				a.PublishRate, 100*v.AchievedRatio, a.TargetRate, 100*heldRatio)
		}
		var ws []Window
		for _, w := range res.Windows {
			if aggregated(w.Phase) {
				ws = append(ws, w)
			}
		}
		if len(ws) >= 2 {
			// Growing: the delay's p99 rose from the first window to the
			// last, and the producers ended behind the schedule (a spike
			// in the last window alone recovers and leaves no lag).
			first, last := ws[0], ws[len(ws)-1]
			for i := len(ws) - 1; i > 0 && last.Seconds < 0.5*res.WindowSeconds; i-- {
				last = ws[i-1] // a short final window says little
			}
			lag := time.Duration(last.ScheduleLagUs) * time.Microsecond
			stalled := last.Sent == 0 // blocked sends record no delay yet
			if (last.PublishDelay.P99Us > first.PublishDelay.P99Us || stalled) && lag > delayLimit {
				fail("publish delay growing: p99 went from %v in the first window to %v in the last, ending %v behind the schedule (limit %v): producers fell behind",
					time.Duration(first.PublishDelay.P99Us)*time.Microsecond, time.Duration(last.PublishDelay.P99Us)*time.Microsecond, lag, delayLimit)
			}
		}
	}
	if a.Errors > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("note: %d errors (produce or fetch)", a.Errors))
	}
	if b := res.Backlog; b != nil && !b.Drained {
		v.Reasons = append(v.Reasons, "note: backlog not drained: "+b.StopCondition)
	}
	if t := res.Totals; !t.Drained {
		v.Reasons = append(v.Reasons, fmt.Sprintf("note: %d acknowledged records not consumed by every subscription when the run ended (drain timed out or run cancelled)", t.Missing))
	}
	return v
}

// progressLine is the live one-line summary of a window.
func progressLine(w *Window) string {
	target := "max"
	if w.TargetRate > 0 {
		target = fmt.Sprintf("%.0f", w.TargetRate)
	}
	return fmt.Sprintf("%7.1fs %-7s target %s msg/s | pub %.0f msg/s %.1f MB/s | cons %.0f msg/s %.1f MB/s | backlog %d | err %d | pub lat p50 %s p99 %s | delay p99 %s behind %s | e2e p50 %s p99 %s",
		w.StartSeconds+w.Seconds, w.Phase, target, w.PublishRate, w.PublishMBps, w.ConsumeRate, w.ConsumeMBps, w.Backlog, w.Errors,
		fmtUs(w.PublishLatency.P50Us), fmtUs(w.PublishLatency.P99Us), fmtUs(w.PublishDelay.P99Us), fmtUs(w.ScheduleLagUs),
		fmtUs(w.EndToEnd.P50Us), fmtUs(w.EndToEnd.P99Us))
}

// fmtUs formats microseconds compactly ("-" for none).
func fmtUs(us int64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%dus", us)
	case us < 10000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	case us < 1000000:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.2fs", float64(us)/1e6)
}

func joinSentences(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
