package crypt

import (
	"slices"
	"time"

	"filippo.io/age"
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
}

// RekeyResult says what Rekey changed (or, with DryRun, would change).
type RekeyResult struct {
	Path string
	// Added and Removed are age recipients.
	Added, Removed []string
	// OldUnknown is true for an .age file nix-auth did not write: its old
	// recipients are unknown, so all of them count as added.
	OldUnknown bool
	// Changed is true when the file is (or would be) rewritten.
	Changed bool
	// OtherKeys are a sops file's keys of types nix-auth does not manage
	// (pgp, kms, ...): they are kept as they are; `sops updatekeys`
	// changes them.
	OtherKeys []string
}

// Rekey re-encrypts a store to recips. For a sops file only the data key
// is wrapped again (values, MAC and lastmodified stay, as with `sops
// updatekeys`); for an .age file the content is encrypted anew. The file
// is decrypted first, so a damaged or tampered file is never rewritten.
//
// A sops rekey keeps the data key: a removed recipient who kept a copy of
// the old file can still read values written later. Rotate the tokens
// after removing someone who should lose access.
func Rekey(path string, ids []age.Identity, recips []string, o RekeyOptions) (*RekeyResult, error) {
	f, err := Load(path, ids, o.Tried, o.Now)
	if err != nil {
		return nil, err
	}
	recips, err = checkRecipients(path, recips)
	if err != nil {
		return nil, err
	}
	if len(recips) == 0 {
		return nil, fileErr(path, ErrRecipient, "no recipients given: nobody could decrypt the file",
			"name them in .sops.yaml (sops) or secrets.nix (agenix), or pass --recipient age1...")
	}
	res := &RekeyResult{Path: path}
	if s, ok := f.st.(*sopsStore); ok {
		res.OtherKeys = s.meta.otherKeys()
	}
	old := f.Recipients()
	if old == nil {
		res.OldUnknown, res.Added, res.Changed = true, recips, true
	} else {
		for _, r := range recips {
			if !slices.Contains(old, r) {
				res.Added = append(res.Added, r)
			}
		}
		for _, r := range old {
			if !slices.Contains(recips, r) {
				// Read from the file, whose key list no MAC covers.
				res.Removed = append(res.Removed, untrustedText(r))
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
			"add a recipient for one of your keys, or pass --force if the new recipients' holders will manage the file")
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
func canDecryptAfter(f *File, recips []string, ids []age.Identity) bool {
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok && slices.Contains(recips, x.Recipient().String()) {
			return true
		}
	}
	now := f.now()
	out, err := f.st.marshal(now)
	if err != nil {
		return false
	}
	_, err = decode(f.path, f.format, out, ids, nil, now)
	return err == nil
}
