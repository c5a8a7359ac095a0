package report

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWrapKeepsEveryWord(t *testing.T) {
	l := "Files in results/x: " + strings.Repeat("load-max.json, ", 20) + strings.Repeat("x", 50)
	got := Wrap(l, 40)
	for _, g := range got {
		if utf8.RuneCountInString(g) > 40 {
			t.Errorf("line %q is longer than 40", g)
		}
	}
	// Words longer than a line are cut; every character is kept.
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if joined := squash(strings.Join(got, " ")); joined != squash(l) {
		t.Errorf("wrapping lost text:\n got %q\nwant %q", got, l)
	}
}
