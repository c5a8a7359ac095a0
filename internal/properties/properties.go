// Package properties reads Java properties files the way
// java.util.Properties.load does, which is how Kafka reads server.properties
// and meta.properties. It is the project's one properties parser: the
// broker's config, its meta.properties, the load generator's driver configs
// and lab load's -target-config all go through it.
//
// It is written here rather than taken from github.com/magiconair/properties
// because that package expands ${key} references and rejects duplicate-key
// corner cases differently from java.util.Properties; Kafka does neither,
// and the broker must read a file exactly as Kafka would.
package properties

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Property is one key=value entry of a Java properties file, with the line
// it started on (for error messages).
type Property struct {
	Key, Value string
	Line       int
}

// Parse reads a Java properties file the way
// java.util.Properties.load does, which is how Kafka reads
// server.properties: '#' and '!' comment lines, "key=value", "key: value"
// and "key value", backslash escapes (\t \n \r \f \uXXXX, any other escaped
// character stands for itself) and lines continued with a trailing
// backslash. Entries come back in file order; a repeated key is returned
// each time (the last one wins when they are applied).
func Parse(r io.Reader) ([]Property, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		out     []Property
		logical strings.Builder
		start   int
		lineNo  int
		cont    bool
	)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimLeft(line, " \t\f")
		if !cont {
			if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
				continue
			}
			start = lineNo
			logical.Reset()
		}
		// An odd number of trailing backslashes continues the line.
		n := 0
		for i := len(trimmed) - 1; i >= 0 && trimmed[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			logical.WriteString(trimmed[:len(trimmed)-1])
			cont = true
			continue
		}
		logical.WriteString(trimmed)
		cont = false
		p, err := parsePropertyLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		p.Line = start
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading properties: %w", err)
	}
	if cont {
		p, err := parsePropertyLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		p.Line = start
		out = append(out, p)
	}
	return out, nil
}

// parsePropertyLine splits one logical line (leading whitespace removed)
// into key and value and unescapes both.
func parsePropertyLine(s string) (Property, error) {
	keyEnd := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			keyEnd = i
			break
		}
	}
	rest := s[keyEnd:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	k, err := unescapeProperty(s[:keyEnd])
	if err != nil {
		return Property{}, fmt.Errorf("key %q: %w", s[:keyEnd], err)
	}
	v, err := unescapeProperty(rest)
	if err != nil {
		return Property{}, fmt.Errorf("value of %s: %w", k, err)
	}
	return Property{Key: k, Value: v}, nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.ContainsRune(s, '\\') {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			break // a lone trailing backslash is dropped, as Java does
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\uxxxx escape")
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("malformed \\uxxxx escape %q", s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// Map parses r and returns its entries as a map, the last of a repeated key
// winning.
func Map(r io.Reader) (map[string]string, error) {
	ps, err := Parse(r)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m, nil
}

// ReadFile parses the file at path into a map.
func ReadFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Map(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return m, nil
}
