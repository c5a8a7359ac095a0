package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// orDefault sets *v to def when *v is its zero value: the one way a Config's
// setDefaults fills what the caller left out.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// checkEnv checks that every entry of a broker's extra environment is
// KEY=VALUE, as a process's environment is written.
func checkEnv(env []string) error {
	var errs []error
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("broker environment entry %q: want KEY=VALUE, e.g. GOMAXPROCS=1", e))
		}
	}
	return errors.Join(errs...)
}

// seedAndLogger fills the two defaults every experiment shares: a
// time-based seed and a logger that discards.
func seedAndLogger(seed *uint64, logger **slog.Logger) {
	orDefault(seed, uint64(time.Now().UnixNano()))
	orDefault(logger, slog.New(slog.DiscardHandler))
}

// rounds orders the arms of an interleaved comparison: each call of next
// returns a fresh copy of arms in a random order drawn from seed, so a run
// is reproducible from its recorded seed. stream separates experiments that
// share a seed.
type rounds[T any] struct {
	rng  *rand.Rand
	arms []T
}

func newRounds[T any](seed, stream uint64, arms []T) *rounds[T] {
	return &rounds[T]{rng: rand.New(rand.NewPCG(seed, stream)), arms: arms}
}

func (r *rounds[T]) next() []T {
	order := slices.Clone(r.arms)
	r.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// newTable returns a tablewriter table with its header as written, drawn as
// Markdown when markdown is set and for a terminal otherwise.
func newTable(w io.Writer, markdown bool) *tablewriter.Table {
	opts := []tablewriter.Option{tablewriter.WithHeaderAutoFormat(tw.Off)}
	if markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	return tablewriter.NewTable(w, opts...)
}

// createTopic creates topic with partitions and configs through a client of
// its own. A creation that kgo resent (the broker took longer than the
// request timeout to make a large topic) comes back TOPIC_ALREADY_EXISTS:
// that counts as created when the topic has the partitions asked for.
func createTopic(ctx context.Context, addr, topic string, partitions int, configs map[string]*string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		var details kadm.TopicDetails
		if details, err = adm.ListTopics(ctx, topic); err == nil {
			err = details.Error()
		}
		if n := len(details[topic].Partitions); err == nil && n != partitions {
			err = fmt.Errorf("topic already exists with %d partitions", n)
		}
	}
	return err
}
