package broker

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPyroscopeProfilesCarryTheConfiguredTags runs the broker with a
// pyroscope server that records what pyroscope-go uploads (the ingest API
// a pyroscope server serves) and checks that the series name carries
// brokerlab.pyroscope.tags beside node_id. The final upload happens when
// the broker stops.
func TestPyroscopeProfilesCarryTheConfiguredTags(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ingest" {
			mu.Lock()
			names = append(names, r.URL.Query().Get("name"))
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tb := newTestBroker(t, func(c *Config) {
		c.PyroscopeServer = srv.URL
		c.PyroscopeTags = "plan=quick,cell=c01,rep=2"
	})
	if err := tb.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("uploaded series: %q", names)
	if len(names) == 0 {
		t.Fatal("the broker uploaded no profile to the pyroscope server")
	}
	for _, n := range names {
		for _, want := range []string{"plan=quick", "cell=c01", "rep=2", "node_id=0"} {
			if !strings.Contains(n, want) {
				t.Errorf("profile %q lacks the tag %s", n, want)
			}
		}
	}
}
