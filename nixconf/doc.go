// Package nixconf finds, reads and edits the user's Nix configuration the
// way Nix itself reads it, so that a token nix-auth writes is the token Nix
// uses.
//
// Tokens live in access-tokens.conf beside nix.conf, which pulls it in with
// "!include access-tokens.conf"; nix.conf keeps the user's own settings and
// formatting. The file sets extra-access-tokens: Nix reads the system's
// nix.conf and the XDG_CONFIG_DIRS files first and NIX_CONFIG last, and an
// access-tokens line there would replace the system's tokens. Every check
// reads all of those layers, as Nix does. render's output is a file of its
// own (RenderFileName); each file's first line names its writer (WriterOf). Every write is atomic (a temporary file in the same
// directory, fsync, rename, fsync of the directory), gets its final mode
// whatever the umask, and happens under an exclusive lock on a lock file
// beside the config, so concurrent runs never lose each other's tokens.
//
// Credentials for Nix's downloader live in a netrc file (netrc.go: one
// reader and editor, with curl's own rules; netrcstore.go: the file Nix's
// config names with netrc-file, or "netrc" beside nix.conf, which nix.conf
// then names). Store.Save writes a host's token to either file or both
// (Dest), in one edit: checked before it is written, locked, and written
// all or nothing with nix.conf's include and netrc-file lines.
//
// The parser follows Nix 2.8's src/libutil/config.cc (applyConfig): a
// line is split on '\n'; '#' starts a comment anywhere; the rest is split
// on space, tab and CR; "include PATH" and "!include PATH" read another
// file relative to the including one; every other line must be
// "name = value" with '=' as a token of its own. Settings apply in the order
// Nix reads them, an included file at the point of its include.
package nixconf
