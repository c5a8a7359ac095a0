package deps

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// allowed are the programs that need no line in packages.tsv, each with
// the reason. Everything else the code, the scripts or the Makefile runs
// must be in packages.tsv, so that make deps installs it on a new machine.
var allowed = map[string]string{
	// Shell builtins and keywords (bash).
	".": "builtin", ":": "builtin", "[": "builtin", "break": "builtin", "cd": "builtin",
	"command": "builtin", "continue": "builtin", "declare": "builtin", "echo": "builtin",
	"eval": "builtin", "exit": "builtin", "export": "builtin", "false": "builtin",
	"local": "builtin", "mapfile": "builtin", "printf": "builtin", "pwd": "builtin", "read": "builtin",
	"readonly": "builtin", "return": "builtin", "set": "builtin", "shift": "builtin",
	"source": "builtin", "test": "builtin", "trap": "builtin", "true": "builtin",
	"type": "builtin", "unset": "builtin", "wait": "builtin",
	// Debian's Essential packages, on every Debian system: coreutils, bash,
	// grep, sed, gzip, tar, findutils, diffutils, dpkg.
	"bash": "essential", "sh": "essential", "basename": "coreutils", "cat": "coreutils",
	"chmod": "coreutils", "cp": "coreutils", "cut": "coreutils", "date": "coreutils",
	"dd": "coreutils", "df": "coreutils", "dirname": "coreutils", "env": "coreutils", "head": "coreutils",
	"id": "coreutils", "ln": "coreutils", "ls": "coreutils", "mkdir": "coreutils",
	"mktemp": "coreutils", "mv": "coreutils", "nohup": "coreutils", "readlink": "coreutils",
	"rm": "coreutils", "sha256sum": "coreutils", "sleep": "coreutils", "sort": "coreutils",
	"sync": "coreutils", "tail": "coreutils", "tee": "coreutils", "timeout": "coreutils",
	"touch": "coreutils", "tr": "coreutils", "uname": "coreutils", "uniq": "coreutils", "wc": "coreutils",
	"grep": "essential", "sed": "essential", "gzip": "essential", "gunzip": "essential",
	"tar": "essential", "find": "essential", "xargs": "essential", "diff": "essential",
	"dpkg": "essential",
	// Priority required or important: on every Debian system though not Essential.
	"awk":     "mawk, priority required (make help)",
	"apt-get": "apt, priority important: the installer itself",
	// The Go toolchain, installed with Go rather than from Debian (README).
	"go": "the Go toolchain", "gofmt": "the Go toolchain",
	// Built by the project into bin/ (make build, make tools).
	"broker": "bin/, make build", "lab": "bin/, make build", "kfake": "bin/, make build",
	"rdkafka_performance": "bin/, make tools (its source is librdkafka-dev's, in packages.tsv)",
}

// goTools are the programs a `go tool` named in a //go:generate line runs.
var goTools = map[string][]string{
	// cilium/ebpf cmd/bpf2go/main.go: -cc defaults to clang, the strip step
	// to llvm-strip.
	"bpf2go": {"clang", "llvm-strip"},
}

// use is one external program run at a place in the repository.
type use struct {
	prog, where string
}

func TestEveryProgramIsListed(t *testing.T) {
	listed, err := readList("packages.tsv")
	if err != nil {
		t.Fatal(err)
	}
	uses, err := scanRepo("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The scanner must see the programs it exists for; if it found none of
	// these, it is broken and an empty result would pass.
	seen := map[string][]string{}
	for _, u := range uses {
		seen[u.prog] = append(seen[u.prog], u.where)
	}
	for _, p := range []string{"kcat", "mkfs.xfs", "losetup", "promtool", "prometheus-node-exporter", "npm", "clang", "gcc", "git", "vagrant"} {
		if len(seen[p]) == 0 {
			t.Errorf("the scan found no use of %s: the scanner misses a kind of call", p)
		}
	}
	progs := make([]string, 0, len(seen))
	for p := range seen {
		progs = append(progs, p)
	}
	sort.Strings(progs)
	for _, p := range progs {
		if listed[p] || allowed[p] != "" {
			continue
		}
		t.Errorf("%s is run (%s) but is not in tools/deps/packages.tsv: add a line with the program, its Debian package and where it is used (or, for a builtin, coreutils or a binary the project builds, an allowlist entry in guard_test.go)",
			p, strings.Join(seen[p], ", "))
	}
	t.Logf("%d programs in %d places: %s", len(progs), len(uses), strings.Join(progs, " "))
}

// readList returns the program names of packages.tsv (file entries, which
// are absolute paths, are left out).
func readList(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading package list: %w", err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 || cols[0] == "" || cols[1] == "" || cols[2] == "" {
			return nil, fmt.Errorf("%s:%d: want 3 tab-separated columns (program or file, package, why), got %q", path, n, line)
		}
		if !strings.HasPrefix(cols[0], "/") {
			listed[cols[0]] = true
		}
	}
	return listed, sc.Err()
}

func TestListIsWellFormed(t *testing.T) {
	if _, err := readList("packages.tsv"); err != nil {
		t.Fatal(err)
	}
}

// scanRepo finds the external programs run by the Go code (with their
// //go:generate lines), the shell scripts, the Makefile and the Vagrant
// provisioning under root.
func scanRepo(root string) ([]use, error) {
	var uses []use
	goDirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "results", "node_modules", "testdata", ".vagrant":
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(path, ".go"):
			goDirs[filepath.Dir(path)] = append(goDirs[filepath.Dir(path)], path)
		case rel == "Makefile":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			uses = append(uses, makefilePrograms(rel, string(b))...)
		case rel == "Vagrantfile":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			uses = append(uses, vagrantPrograms(rel, string(b))...)
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if isShellScript(path, b) {
				uses = append(uses, shellPrograms(rel, 1, string(b))...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for dir, files := range goDirs {
		u, err := goPrograms(root, files)
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", dir, err)
		}
		uses = append(uses, u...)
	}
	return uses, nil
}

func isShellScript(path string, b []byte) bool {
	if strings.HasSuffix(path, ".sh") || strings.HasSuffix(path, ".bash") {
		return true
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.HasPrefix(first, "#!") && (strings.HasSuffix(first, "sh") || strings.HasSuffix(first, "bash"))
}

// ---- Go ----

// goPrograms parses the Go files of one package and returns the programs
// named by string literals where a program is run or looked up:
// exec.Command, exec.CommandContext, exec.LookPath, testutil.RequireCommand,
// any function of the package (or function literal) that passes one of its
// parameters on as such a program, and //go:generate lines.
func goPrograms(root string, files []string) ([]use, error) {
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, af)
	}
	p := &goPkg{fset: fset, decls: map[string]ast.Node{}, wrappers: map[any]int{}}
	for _, f := range parsed {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					p.decls[d.Name.Name] = d
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for _, n := range vs.Names {
							p.decls[n.Name] = vs
						}
					}
				}
			}
		}
	}
	p.findWrappers(parsed)
	var uses []use
	for _, f := range parsed {
		where := func(pos token.Pos) string {
			ps := fset.Position(pos)
			rel, _ := filepath.Rel(root, ps.Filename)
			return fmt.Sprintf("%s:%d", rel, ps.Line)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if i := p.programArg(call); i >= 0 && i < len(call.Args) {
				for _, s := range p.strings(call.Args[i], 0) {
					if strings.Contains(s, "/") && !strings.HasPrefix(s, "/") {
						continue // a file of the repository, such as ../bin/kfake
					}
					uses = append(uses, use{programName(s), where(call.Pos())})
				}
			}
			return true
		})
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				args, ok := strings.CutPrefix(c.Text, "//go:generate ")
				if !ok {
					continue
				}
				fields := strings.Fields(args)
				if len(fields) == 0 {
					continue
				}
				uses = append(uses, use{programName(fields[0]), where(c.Pos())})
				if fields[0] == "go" && len(fields) > 2 && fields[1] == "tool" {
					runs, ok := goTools[fields[2]]
					if !ok {
						return nil, fmt.Errorf("%s: go tool %s: add the programs it runs to goTools in guard_test.go", where(c.Pos()), fields[2])
					}
					for _, r := range runs {
						uses = append(uses, use{r, where(c.Pos()) + " (go tool " + fields[2] + ")"})
					}
				}
			}
		}
	}
	return uses, nil
}

// programName is the name packages.tsv lists a program under: the base
// name of an absolute path, a relative path (a file of the repository) as
// is.
func programName(s string) string {
	if strings.HasPrefix(s, "/") {
		return filepath.Base(s)
	}
	return s
}

type goPkg struct {
	fset *token.FileSet
	// decls are the package-level functions and values by name.
	decls map[string]ast.Node
	// wrappers maps a *ast.FuncDecl or the *ast.Object of a variable
	// holding a function literal to the index of the parameter it runs as
	// a program.
	wrappers map[any]int
}

// programArg returns the index of the argument of call that names a
// program, or -1.
func (p *goPkg) programArg(call *ast.CallExpr) int {
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		pkg, ok := fn.X.(*ast.Ident)
		if !ok {
			return -1
		}
		switch {
		case pkg.Name == "exec" && (fn.Sel.Name == "Command" || fn.Sel.Name == "LookPath"):
			return 0
		case pkg.Name == "exec" && fn.Sel.Name == "CommandContext":
			return 1
		case pkg.Name == "testutil" && fn.Sel.Name == "RequireCommand":
			return 1
		}
	case *ast.Ident:
		if fn.Name == "RequireCommand" { // inside testutil
			return 1
		}
		if fn.Obj != nil {
			if i, ok := p.wrappers[fn.Obj]; ok {
				return i
			}
		}
		if d, ok := p.decls[fn.Name].(*ast.FuncDecl); ok {
			if i, ok := p.wrappers[d]; ok {
				return i
			}
		}
	}
	return -1
}

// findWrappers finds, until nothing changes, the functions that pass one
// of their parameters on as a program.
func (p *goPkg) findWrappers(files []*ast.File) {
	for changed := true; changed; {
		changed = false
		check := func(key any, ft *ast.FuncType, body *ast.BlockStmt) {
			if body == nil || ft.Params == nil {
				return
			}
			if _, done := p.wrappers[key]; done {
				return
			}
			params := map[*ast.Object]int{}
			i := 0
			for _, f := range ft.Params.List {
				for _, n := range f.Names {
					if n.Obj != nil {
						params[n.Obj] = i
					}
					i++
				}
				if len(f.Names) == 0 {
					i++
				}
			}
			ast.Inspect(body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if a := p.programArg(call); a >= 0 && a < len(call.Args) {
					if id, ok := call.Args[a].(*ast.Ident); ok && id.Obj != nil {
						if pi, ok := params[id.Obj]; ok {
							p.wrappers[key] = pi
							changed = true
							return false
						}
					}
				}
				return true
			})
		}
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.FuncDecl:
					check(n, n.Type, n.Body)
				case *ast.AssignStmt:
					for i, r := range n.Rhs {
						if fl, ok := r.(*ast.FuncLit); ok && i < len(n.Lhs) {
							if id, ok := n.Lhs[i].(*ast.Ident); ok && id.Obj != nil {
								check(id.Obj, fl.Type, fl.Body)
							}
						}
					}
				}
				return true
			})
		}
	}
}

// strings returns the string constants e can hold, following identifiers
// to their declarations, ranges over literal slices, and indexing of
// literal slices and maps (values). It returns nothing for what it cannot follow
// (a path from a flag or a variable: the project's own binaries).
func (p *goPkg) strings(e ast.Expr, depth int) []string {
	if depth > 8 {
		return nil
	}
	var out []string
	for _, v := range p.values(e, depth) {
		if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// values returns the expressions e may stand for.
func (p *goPkg) values(e ast.Expr, depth int) []ast.Expr {
	if depth > 8 {
		return nil
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return p.values(e.X, depth+1)
	case *ast.IndexExpr:
		// An element of a literal slice (a constant index picks it) or
		// any value of a literal map.
		var out []ast.Expr
		for _, coll := range p.values(e.X, depth+1) {
			elts := elements(coll)
			if lit, ok := e.Index.(*ast.BasicLit); ok && lit.Kind == token.INT {
				if n, err := strconv.Atoi(lit.Value); err == nil && n < len(elts) {
					elts = elts[n : n+1]
				}
			}
			for _, el := range elts {
				out = append(out, p.values(el, depth+1)...)
			}
		}
		return out
	case *ast.Ident:
		var decl any
		if e.Obj != nil {
			decl = e.Obj.Decl
		} else if d, ok := p.decls[e.Name]; ok {
			decl = d
		}
		switch d := decl.(type) {
		case *ast.ValueSpec:
			for i, n := range d.Names {
				if n.Name == e.Name && i < len(d.Values) {
					return p.values(d.Values[i], depth+1)
				}
			}
		case *ast.AssignStmt:
			i := slices.IndexFunc(d.Lhs, func(l ast.Expr) bool {
				id, ok := l.(*ast.Ident)
				return ok && id.Name == e.Name
			})
			if i < 0 {
				return nil
			}
			if len(d.Rhs) == 1 {
				if u, ok := d.Rhs[0].(*ast.UnaryExpr); ok && u.Op == token.RANGE {
					if i != 1 { // the key of a range is an index
						return nil
					}
					var out []ast.Expr
					for _, coll := range p.values(u.X, depth+1) {
						for _, el := range elements(coll) {
							out = append(out, p.values(el, depth+1)...)
						}
					}
					return out
				}
				if i == 0 { // v, ok := m[k] and the like
					return p.values(d.Rhs[0], depth+1)
				}
				return nil
			}
			if i < len(d.Rhs) {
				return p.values(d.Rhs[i], depth+1)
			}
		}
		return nil
	}
	return []ast.Expr{e}
}

// elements returns the element (or map value) expressions of a composite
// literal.
func elements(e ast.Expr) []ast.Expr {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []ast.Expr
	for _, el := range cl.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			el = kv.Value
		}
		out = append(out, el)
	}
	return out
}

// ---- shell ----

var (
	funcDef      = regexp.MustCompile(`^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)`)
	heredocStart = regexp.MustCompile(`<<-?\s*['"]?(\w+)['"]?`)
	assignment   = regexp.MustCompile(`^[A-Za-z_]\w*(\[[^]]*\])?\+?=`)
	makeVarDef   = regexp.MustCompile(`^([A-Za-z_]\w*)\s*[:?]?=\s*(.*)$`)
	makeVarRef   = regexp.MustCompile(`\$\(([A-Za-z_]\w*)\)`)
)

// shellKeywords start or end a compound command; the word after them is a
// command again. for, case, select and [[ are followed by words, not
// commands.
var shellKeywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true, "done": true,
	"while": true, "until": true, "esac": true, "!": true, "{": true, "}": true, "time": true,
}

// shellPrograms returns the programs a shell script runs: the first word of
// every simple command (in pipelines, lists, $(...) and <(...) too), the
// command after sudo, exec, env, nohup, xargs and timeout, and the name
// after command -v. Functions the script defines are left out; words it
// cannot know ($var, quoted, globs, relative paths into the repository)
// too.
func shellPrograms(file string, firstLine int, src string) []use {
	lines := strings.Split(src, "\n")
	defined := map[string]bool{}
	for _, l := range lines {
		if m := funcDef.FindStringSubmatch(l); m != nil {
			defined[m[1]] = true
		}
	}
	var uses []use
	for i := 0; i < len(lines); i++ {
		start := i
		line := lines[i]
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		if m := funcDef.FindStringSubmatchIndex(line); m != nil {
			line = line[m[1]:]
		}
		for _, cmd := range shellCommands(line) {
			for _, prog := range commandPrograms(cmd) {
				if !defined[prog] {
					uses = append(uses, use{programName(prog), fmt.Sprintf("%s:%d", file, firstLine+start)})
				}
			}
		}
		if m := heredocStart.FindStringSubmatch(line); m != nil {
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != m[1] {
				i++
			}
			i++
		}
	}
	return uses
}

// shellCommands splits one line of shell into simple commands: quoted
// strings become a NUL byte (their $(...) parts are commands of their own), a
// comment ends the line, and ; & | ( ) and backquotes separate commands.
func shellCommands(line string) []string {
	var cmds []string
	var cur strings.Builder
	flush := func() {
		cmds = append(cmds, cur.String())
		cur.Reset()
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			i++
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			cur.WriteByte(0)
			i += j + 1
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
					continue
				}
				if line[j] == '$' && j+1 < len(line) && line[j+1] == '(' {
					end := matchParen(line, j+1)
					cmds = append(cmds, shellCommands(line[j+2:end])...)
					j = end
				}
			}
			cur.WriteByte(0)
			i = j
		case c == '$' && strings.HasPrefix(line[i+1:], "(("):
			// Arithmetic expansion, $((n + 1)): no command.
			end := matchParen(line, i+1)
			cur.WriteString("$A")
			i = end
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			end := matchParen(line, i+1)
			cmds = append(cmds, shellCommands(line[i+2:end])...)
			cur.WriteString("$S")
			i = end
		case c == '$' && i+1 < len(line) && line[i+1] == '{':
			end := strings.IndexByte(line[i:], '}')
			if end < 0 {
				end = len(line) - i - 1
			}
			cur.WriteString("$V")
			i += end
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			flush()
			return cmds
		case strings.IndexByte(";&|()`", c) >= 0:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return cmds
}

// matchParen returns the index of the ')' closing the '(' at open (or the
// line's end).
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		case '\'':
			if j := strings.IndexByte(s[i+1:], '\''); j >= 0 {
				i += j + 1
			}
		}
	}
	return len(s) - 1
}

// commandPrograms returns the program of one simple command (and the one
// command -v looks up).
func commandPrograms(cmd string) []string {
	words := strings.Fields(cmd)
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case shellKeywords[w], assignment.MatchString(w), isRedirection(w):
			continue
		case w == "for" || w == "case" || w == "select" || w == "[[":
			return out
		case w == "sudo" || w == "exec" || w == "nohup" || w == "xargs" || w == "env":
			out = append(out, w)
			for i+1 < len(words) && (strings.HasPrefix(words[i+1], "-") || assignment.MatchString(words[i+1])) {
				i++
			}
			continue
		case w == "timeout":
			out = append(out, w)
			for i+1 < len(words) && strings.HasPrefix(words[i+1], "-") {
				i++
			}
			i++ // the duration
			continue
		case w == "command" && i+2 < len(words) && (words[i+1] == "-v" || words[i+1] == "-V"):
			if isName(words[i+2]) {
				out = append(out, words[i+2])
			}
			return out
		case w == "command":
			continue
		}
		if isName(w) {
			out = append(out, w)
		}
		return out
	}
	return out
}

func isRedirection(w string) bool {
	w = strings.TrimLeft(w, "0123456789")
	return strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<")
}

// isName reports whether w is a program name this scan can know: not a
// variable, a quoted string, a glob, an option, a number or a relative path
// (a file of the repository).
func isName(w string) bool {
	if w == "" || strings.ContainsAny(w, "\x00$*?=[") || strings.HasPrefix(w, "-") {
		return false
	}
	if _, err := strconv.Atoi(w); err == nil {
		return false
	}
	if strings.Contains(w, "/") && !strings.HasPrefix(w, "/") {
		return false
	}
	return true
}

// makefilePrograms scans the recipes of a Makefile as shell, with the
// Makefile's simple variables ($(GO) and the like) expanded and $$ as $.
func makefilePrograms(file, src string) []use {
	vars := map[string]string{"MAKE": "make"}
	lines := strings.Split(src, "\n")
	for _, l := range lines {
		if m := makeVarDef.FindStringSubmatch(l); m != nil && !strings.HasPrefix(l, "\t") {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
	}
	var uses []use
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "\t") {
			continue
		}
		start := i
		recipe := lines[i]
		for strings.HasSuffix(recipe, "\\") && i+1 < len(lines) {
			i++
			recipe = strings.TrimSuffix(recipe, "\\") + " " + lines[i]
		}
		recipe = strings.TrimLeft(strings.TrimSpace(recipe), "@-+")
		recipe = makeVarRef.ReplaceAllStringFunc(recipe, func(ref string) string {
			name := makeVarRef.FindStringSubmatch(ref)[1]
			if v, ok := vars[name]; ok && !strings.Contains(v, "$") {
				return v
			}
			return "$" + name
		})
		recipe = strings.ReplaceAll(recipe, "$$", "$")
		uses = append(uses, shellPrograms(file, start+1, recipe)...)
	}
	return uses
}

// vagrantPrograms scans the shell provisioning (<<-SHELL heredocs) of a
// Vagrantfile.
func vagrantPrograms(file, src string) []use {
	var uses []use
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		m := heredocStart.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != m[1] {
			j++
		}
		uses = append(uses, shellPrograms(file, i+2, strings.Join(lines[i+1:j], "\n"))...)
		i = j
	}
	return uses
}
