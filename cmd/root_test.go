package cmd

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestCommandNames: the table's names are the commands' own, so that a
// command named first is found and built alone.
func TestCommandNames(t *testing.T) {
	f := &Factory{IO: &IOStreams{}}
	for _, c := range commands {
		if got := c.build(f).Name(); got != c.name {
			t.Errorf("table name %q builds command %q", c.name, got)
		}
		if directCommand([]string{c.name, "--help"}) != c.name {
			t.Errorf("%s is not found first", c.name)
		}
	}
	for _, args := range [][]string{nil, {"--config", "x", "render"}, {"help", "render"}, {"completion", "bash"}, {"__complete", "re"}, {"renderx"}} {
		if got := directCommand(args); got != "" {
			t.Errorf("%q: only %q built, want the whole tree", args, got)
		}
	}
}

// TestDirectCommandSameOutput: a command built alone behaves as in the
// whole tree: the same help, the same usage errors, the same exit codes.
func TestDirectCommandSameOutput(t *testing.T) {
	run := func(only string, args []string) (int, string, string) {
		var out, errOut bytes.Buffer
		f := &Factory{IO: &IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
			Getenv: func(string) string { return "" }, LookupEnv: func(string) (string, bool) { return "", false }, Now: time.Now}
		root := newRootCmd(f, only)
		root.SetArgs(args)
		c, err := root.ExecuteContextC(context.Background())
		code := reportErrorFor(f.IO.ErrOut, err, c)
		return code, out.String(), errOut.String()
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "--no-such-flag"}, {c.name, "--config"}} {
			code1, out1, err1 := run("", args)
			code2, out2, err2 := run(c.name, args)
			if code1 != code2 || out1 != out2 || err1 != err2 {
				t.Errorf("%q: alone %d %q %q, in the tree %d %q %q", args, code2, out2, err2, code1, out1, err1)
			}
		}
	}
}
