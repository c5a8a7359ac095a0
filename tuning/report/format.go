package report

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// num formats v (in the metric's shown unit) with 4 significant digits,
// as benchstat does.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == 0:
		return "0"
	}
	digits := 4 - int(math.Floor(math.Log10(math.Abs(v)))) - 1
	if digits < 0 {
		digits = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// summary formats a sample as "95.90 ±2%".
func summary(m tuning.Metric, s stats.Summary) string {
	return fmt.Sprintf("%s ±%s", num(s.Center*m.Scale), s.PctRange())
}

// withUnit is "95.90 MB/s".
func withUnit(m tuning.Metric, v float64) string {
	if m.Unit == "" {
		return num(v * m.Scale)
	}
	if m.Unit == "%" {
		return num(v*m.Scale) + "%"
	}
	return num(v*m.Scale) + " " + m.Unit
}

// delta formats a comparison as "-4.58% (p=0.001)" or "~ (p=0.841)".
func delta(c stats.Comparison) string {
	return fmt.Sprintf("%s (p=%.3f)", c.Delta(), c.AdjustedP)
}

// better says whether the change of c is an improvement on m.
func better(m tuning.Metric, c stats.Comparison) bool {
	switch m.Direction {
	case tuning.HigherIsBetter:
		return c.New.Center > c.Base.Center
	case tuning.LowerIsBetter:
		return c.New.Center < c.Base.Center
	}
	return false
}

// DefaultWidth is the width terminal output is fitted to when it does not
// go to a terminal (a pipe, a file, make bench > summary.txt): the common
// line limit of code review tools and of an 80-column terminal's 1.5x.
const DefaultWidth = 120

// Width is the width of the terminal w writes to, or DefaultWidth when w is
// not a terminal (or its size cannot be read).
func Width(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return DefaultWidth
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return DefaultWidth
	}
	return int(ws.Col)
}

// displayWidth is the number of terminal columns s takes (the tables and
// summaries hold no wide characters, so runes).
func displayWidth(s string) int { return utf8.RuneCountInString(s) }

// Wrap breaks l at spaces into lines of at most width columns (a word
// longer than a line is cut); the continuation lines are indented by four
// spaces.
func Wrap(l string, width int) []string {
	if width < 20 {
		width = 20
	}
	var out []string
	for displayWidth(l) > width {
		r := []rune(l)
		cut := -1
		for i := width; i > 4; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		if cut < 0 {
			cut = width
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		l = "    " + strings.TrimLeft(string(r[cut:]), " ")
	}
	return append(out, l)
}
