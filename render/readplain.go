package render

import (
	"time"

	"github.com/nix-auth/nix-auth/crypt"
)

// ReadPlain reads and checks a decrypted token file exactly as Render does
// with Options.Plain: an access-tokens fragment (what agenix deploys, and
// what Render writes) or the sops tree that sops-nix deploys, read by
// crypt with a store's checks (now judges its times), every host and token
// held to the rules of the line Render would write. warn gets the lines it
// leaves out. Expired entries are kept: judging them is the caller's.
func ReadPlain(path string, now time.Time, warn func(string)) ([]crypt.Entry, error) {
	es, err := loadPlain(path, now, warn)
	if err != nil {
		return nil, err
	}
	if err := validate(es, path); err != nil {
		return nil, err
	}
	return es, nil
}
