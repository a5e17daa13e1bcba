package crypt

import (
	"slices"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// RekeyOptions change what Rekey does.
type RekeyOptions struct {
	// DryRun computes the recipient change and writes nothing.
	DryRun bool
	// Force writes even when none of the identities given could decrypt
	// the file afterwards (someone else holds the keys).
	Force bool
	// Tried describes the identities, for the error when none decrypts.
	Tried []string
	// Now is the clock (required), as for Load.
	Now func() time.Time
	// PluginUI is how the age plugins of plugin recipients reach the user
	// (see File.PluginUI).
	PluginUI *plugin.ClientUI
	// Git tells a git-crypt store, which has no recipients to change,
	// from a sops file (see OpenOptions.Git).
	Git *Git
}

// RekeyResult says what Rekey changed (or, with DryRun, would change).
type RekeyResult struct {
	Path   string
	Format Format
	// Added are declared recipients the file is not encrypted to (with
	// the Source that declares them). Removed are a sops file's recipients
	// that are no longer declared (their Source is the file).
	Added, Removed []Recipient
	// Unverified are declared recipients of an .age file that its header
	// can neither confirm nor deny: X25519 and post-quantum stanzas do not
	// say whose they are. The file may already be encrypted to them.
	Unverified []Recipient
	// Undeclared describes an .age file's stanzas that no declared
	// recipient accounts for, e.g. "an ssh-ed25519 stanza for a key not
	// declared (key tag 1x2y3z)": the keys that lose access.
	Undeclared []string
	// Changed is true when the file is (or would be) rewritten.
	Changed bool
	// OtherKeys are a sops file's keys of types nix-auth does not manage
	// (pgp, kms, ...): they are kept as they are; `sops updatekeys`
	// changes them.
	OtherKeys []string
}

// Rekey re-encrypts a store to recips, the recipients its configuration
// (.sops.yaml, secrets.nix) or the command line declares: never to a list
// read from the file. For a sops file only the data key is wrapped again
// (values, MAC and lastmodified stay, as with `sops updatekeys`), and only
// when the declared keys differ from the file's. An .age file is encrypted
// anew, as `agenix -r` does, unless its header proves it is encrypted to
// exactly the declared keys, which it can only for ssh keys. The file is
// decrypted first, so a damaged or tampered file is never rewritten.
//
// A sops rekey keeps the data key: a removed recipient who kept a copy of
// the old file can still read values written later. Rotate the tokens
// after removing someone who should lose access.
func Rekey(path string, ids []age.Identity, recips []Recipient, o RekeyOptions) (*RekeyResult, error) {
	f, err := Open(path, OpenOptions{Identities: ids, Tried: o.Tried, Now: o.Now, Git: o.Git})
	if err != nil {
		return nil, err
	}
	f.PluginUI = o.PluginUI
	if f.format == FormatGitCrypt {
		return nil, gitCryptKeysErr(path)
	}
	recips, err = checkRecipients(path, recips)
	if err != nil {
		return nil, err
	}
	res := &RekeyResult{Path: path, Format: f.format}
	if s, ok := f.st.(*sopsStore); ok {
		res.OtherKeys = s.meta.otherKeys()
	}
	if a, ok := f.st.(*ageStore); ok {
		d := a.header.compare(recips)
		res.Added, res.Unverified = d.missing, d.unverified
		res.Undeclared = d.undeclared
		res.Changed = len(d.missing)+len(d.unverified)+len(d.undeclared)+len(d.short) > 0
	} else {
		old := f.Recipients()
		same := func(a Recipient) func(Recipient) bool {
			return func(b Recipient) bool { return a.Age == b.Age }
		}
		for _, r := range recips {
			if !slices.ContainsFunc(old, same(r)) {
				res.Added = append(res.Added, r)
			}
		}
		for _, r := range old {
			if !slices.ContainsFunc(recips, same(r)) {
				res.Removed = append(res.Removed, r)
			}
		}
		res.Changed = len(res.Added)+len(res.Removed) > 0
	}
	if !res.Changed {
		return res, nil
	}
	if err := f.SetRecipients(recips); err != nil {
		return nil, err
	}
	if !o.Force && !canDecryptAfter(f, recips, ids) {
		return res, fileErr(path, ErrLockout, "none of the identities given could decrypt it with the new recipients",
			"add a recipient for one of your keys")
	}
	if o.DryRun {
		return res, nil
	}
	if err := f.Save(); err != nil {
		return nil, err
	}
	return res, nil
}

// canDecryptAfter tells whether one of ids can decrypt f as it would be
// written. An X25519 identity is matched by its recipient; any other
// (an ssh key, a plugin) by decrypting the result in memory.
func canDecryptAfter(f *File, recips []Recipient, ids []age.Identity) bool {
	for _, id := range ids {
		x, ok := id.(*age.X25519Identity)
		if !ok {
			continue
		}
		mine := x.Recipient().String()
		if slices.ContainsFunc(recips, func(r Recipient) bool { return r.Key(f.format) == mine }) {
			return true
		}
	}
	now := f.now()
	out, err := f.st.marshal(now, f.PluginUI)
	if err != nil {
		return false
	}
	_, err = decode(f.path, f.format, out, ids, nil, f.git, now)
	return err == nil
}
