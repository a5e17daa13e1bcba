package cmd

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
)

// What Nix does with the tokens nix-auth writes, said to the user: which
// file each token Nix uses comes from, and every token a file sets that Nix
// does not use, with why and what to change.

// from names where an entry is set, for messages.
func from(file string, line int) string {
	return termsafe.Field(file) + ":" + strconv.Itoa(line)
}

// printNixNotes says what a write means for the tokens Nix uses: the
// system's tokens it kept (when this write made the tokens file add to
// them), hosts where the system's token wins, and after a removal, a token
// for the host that Nix still has.
func printNixNotes(f *Factory, ch *nixconf.Change, dryRun bool) {
	if len(ch.Kept) > 0 && ch.Adds && !dryRun {
		var hosts, files []string
		for _, e := range ch.Kept {
			hosts = append(hosts, termsafe.Field(e.Host))
			if !slices.Contains(files, termsafe.Field(e.File)) {
				files = append(files, termsafe.Field(e.File))
			}
		}
		termsafe.Fprintf(f.IO.Out, "Kept the system's tokens for %s (from %s): %s adds to them (extra-access-tokens) instead of replacing them.\n",
			strings.Join(hosts, ", "), strings.Join(files, ", "), baseName(ch.TokensFile))
	}
	for _, e := range ch.Shadowed {
		f.warn(fmt.Sprintf("Nix uses the token for %s from %s, not the one in %s: that file is read before yours, and the first entry for a host wins",
			termsafe.Field(e.Host), from(e.File, e.Line), ch.TokensFile))
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: to use yours, remove %s from %s (on NixOS: nix.settings.access-tokens, or the fleet's token store)\n",
			termsafe.Field(e.Host), termsafe.Field(e.File))
	}
	if e := ch.Still; e != nil {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: Nix still has a token for %s, from %s, which nix-auth does not manage\n", termsafe.Field(e.Host), whereFrom(*e))
	}
}

// whereFrom names an entry's place, NIX_CONFIG as what it is.
func whereFrom(e nixconf.Entry) string {
	if e.File == nixconf.EnvSource {
		return "the NIX_CONFIG environment variable (line " + strconv.Itoa(e.Line) + ")"
	}
	return from(e.File, e.Line)
}

// addSources records in each status row the file its token comes from and
// the places whose token for the host Nix does not use.
func addSources(rows []statusHost, entries []nixconf.Entry, unused []nixconf.Unused) {
	for i, e := range entries {
		rows[i].Source = from(e.File, e.Line)
		for _, u := range unused {
			if u.Host == e.Host {
				rows[i].Overrides = append(rows[i].Overrides, from(u.File, u.Line))
			}
		}
	}
}

// printSources lists where each token Nix uses comes from.
func printSources(f *Factory, entries []nixconf.Entry) {
	if len(entries) == 0 {
		return
	}
	termsafe.Fprintln(f.IO.Out)
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	termsafe.Fprintf(tw, "HOST\tNIX READS IT FROM\n")
	for _, e := range entries {
		termsafe.Fprintf(tw, "%s\t%s\n", termsafe.Field(e.Host), whereFrom(e))
	}
	tw.Flush()
}

// warnUnused warns about every token a config sets that Nix does not use,
// when something the user controls is the cause: a token of theirs that
// loses, or the system's tokens dropped by an access-tokens line of theirs
// or NIX_CONFIG.
func warnUnused(f *Factory, paths nixconf.Paths, unused []nixconf.Unused) {
	for _, u := range unused {
		if u.Layer == nixconf.LayerBefore && u.By.Layer == nixconf.LayerBefore {
			continue
		}
		what := "the token for " + termsafe.Field(u.Host) + " in " + whereFrom(u.Entry)
		var why string
		switch {
		case u.By.Host == "" && u.By.File == nixconf.EnvSource:
			why = "NIX_CONFIG sets access-tokens, which replaces every token set before it (Nix applies NIX_CONFIG after every file)"
		case u.By.Host == "":
			why = from(u.By.File, u.By.Line) + " sets access-tokens, which replaces every token set before it"
			if managed(paths, u.By.File) {
				why += " (a nix-auth login, set-token or logout rewrites it as extra-access-tokens, which adds instead)"
			}
		default:
			why = "Nix uses the one from " + whereFrom(u.By) + ", which it reads first (the first entry for a host wins)"
		}
		f.warn(what + " is not used: " + why)
	}
}

// managed reports whether file is one that nix-auth's writes rewrite.
func managed(p nixconf.Paths, file string) bool {
	return filepath.Clean(file) == filepath.Clean(p.NixConf) || filepath.Clean(file) == filepath.Clean(p.TokensFile)
}

// sameDir reports whether a and b are in the same directory.
func sameDir(a, b string) bool {
	da, err1 := filepath.Abs(filepath.Dir(a))
	db, err2 := filepath.Abs(filepath.Dir(b))
	return err1 == nil && err2 == nil && da == db
}
