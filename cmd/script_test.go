package cmd

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

// TestMain lets testscript run this test binary as the nix-auth command, so
// the scripts exercise the real process: flags, streams and exit codes.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nix-auth": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			f := newSystemFactory()
			// Every script has a fake forge; route every host to it. This
			// is test-only wiring through the Factory, as gh does.
			c, err := forgetest.ClientFromEnv()
			if err != nil {
				panic(err)
			}
			f.HTTPClient = func() *http.Client { return c }
			if now := os.Getenv("NIX_AUTH_TEST_NOW"); now != "" {
				t, err := time.Parse(time.RFC3339, now)
				if err != nil {
					panic(err)
				}
				f.Now = func() time.Time { return t }
			}
			os.Exit(Run(ctx, f, nil))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(e *testscript.Env) error {
			// Keep every script away from the machine's own Nix config:
			// a script puts a system config in $WORK/etc/nix/nix.conf.
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".config"))
			e.Setenv("NIX_CONF_DIR", filepath.Join(e.WorkDir, "etc", "nix"))
			e.Setenv("XDG_CONFIG_DIRS", filepath.Join(e.WorkDir, "etc", "xdg"))
			return setupForge(e)
		},
		Cmds:      scriptCmds,
		Condition: scriptCondition,
	})
}
