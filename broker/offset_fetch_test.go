package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetFetchManyGroups fetches several groups' offsets in one
// request: kadm's FetchManyOffsets (which batches groups into one v8+
// request when the broker advertises it), and raw v9 requests with a
// member id and epoch and with bad group ids.
func TestOffsetFetchManyGroups(t *testing.T) {
	b := newTestBroker(t)
	ctx := testContext(t, 30*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "of", 2, nil)
	for i, g := range []string{"g1", "g2", "g3"} {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "of", Partition: int32(i % 2), At: int64(10 + i), LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	rs := adm.FetchManyOffsets(ctx, "g1", "g2", "g3", "none")
	if err := rs.Error(); err != nil {
		t.Fatal(err)
	}
	for i, g := range []string{"g1", "g2", "g3"} {
		o, ok := rs[g].Fetched.Lookup("of", int32(i%2))
		if !ok || o.At != int64(10+i) {
			t.Errorf("%s: %+v %v, want offset %d", g, o, ok, 10+i)
		}
	}
	if n := len(rs["none"].Fetched); n != 0 {
		t.Errorf("group without commits fetched %v", rs["none"].Fetched)
	}

	rc := dialRaw(t, b.addr)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 9
	for _, g := range []string{"g2", "", strings.Repeat("x", 32768)} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rg.MemberID, rg.MemberEpoch = kmsg.StringPtr("someone"), 3
		req.Groups = append(req.Groups, rg)
	}
	resp := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 3 {
		t.Fatalf("%d groups answered, want 3", len(resp.Groups))
	}
	if g := resp.Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 11 {
		t.Errorf("v9 g2: %+v", g)
	}
	for _, g := range resp.Groups[1:] {
		if g.ErrorCode != kerr.InvalidGroupID.Code {
			t.Errorf("v9 group id of %d bytes: %v, want INVALID_GROUP_ID", len(g.Group), kerr.ErrorForCode(g.ErrorCode))
		}
	}
}
