package properties

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := "# a comment\n" +
		"! another comment\n" +
		"\n" +
		"   broker.id = 7\n" +
		"log.dirs: /a,/b\n" +
		"listeners PLAINTEXT://127.0.0.1:9093\n" +
		"key\\ with\\=escapes=va\\tl\\u0041\n" +
		"long.value=one, \\\n" +
		"           two, \\\n" +
		"           three\n" +
		"empty=\n" +
		"crlf=yes\r\n" +
		"trailing.backslash=a\\\\\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Property{
		{Key: "broker.id", Value: "7", Line: 4},
		{Key: "log.dirs", Value: "/a,/b", Line: 5},
		{Key: "listeners", Value: "PLAINTEXT://127.0.0.1:9093", Line: 6},
		{Key: "key with=escapes", Value: "va\tlA", Line: 7},
		{Key: "long.value", Value: "one, two, three", Line: 8},
		{Key: "empty", Value: "", Line: 11},
		{Key: "crlf", Value: "yes", Line: 12},
		{Key: "trailing.backslash", Value: "a\\", Line: 13},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParsePropertiesBadEscape(t *testing.T) {
	if _, err := Parse(strings.NewReader("a=\\u12\n")); err == nil {
		t.Fatal("malformed \\u escape accepted")
	}
}

func TestMapLastKeyWins(t *testing.T) {
	m, err := Map(strings.NewReader("a=1\nb : 2\na=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "3", "b": "2"}, m); diff != "" {
		t.Errorf("Map (-want +got):\n%s", diff)
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.properties")
	if err := os.WriteFile(path, []byte("a=\\u12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("ReadFile of a malformed file: %v, want an error naming %s", err, path)
	}
}
