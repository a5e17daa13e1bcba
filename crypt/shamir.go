package crypt

import "errors"

// combineShares rebuilds a sops data key from the Shamir shares of its key
// groups, as sops's shamir.Combine (HashiCorp Vault's) does: each share is
// the secret's bytes evaluated on a polynomial over GF(2^8), followed by
// its x coordinate; the secret is each byte's polynomial at x = 0 by
// Lagrange interpolation. Only combining is needed: nix-auth never splits
// a key (it leaves the recipients of a multi-group file to sops). The
// arithmetic takes the same time whatever the key's bytes.
func combineShares(parts [][]byte) ([]byte, error) {
	if len(parts) < 2 {
		return nil, errors.New("less than two shares")
	}
	n := len(parts[0])
	if n < 2 {
		return nil, errors.New("a share is shorter than two bytes")
	}
	xs := make([]byte, len(parts))
	seen := map[byte]bool{}
	for i, p := range parts {
		if len(p) != n {
			return nil, errors.New("shares of different lengths")
		}
		xs[i] = p[n-1]
		if seen[xs[i]] {
			return nil, errors.New("two shares with the same x coordinate")
		}
		seen[xs[i]] = true
	}
	// The Lagrange basis polynomials at 0, the same for every byte; in
	// GF(2^8) subtraction is addition (xor).
	basis := make([]byte, len(parts))
	for i := range parts {
		basis[i] = 1
		for j := range parts {
			if i != j {
				basis[i] = gfMul(basis[i], gfMul(xs[j], gfInv(xs[i]^xs[j])))
			}
		}
	}
	secret := make([]byte, n-1)
	for idx := range secret {
		for i, p := range parts {
			secret[idx] ^= gfMul(p[idx], basis[i])
		}
	}
	return secret, nil
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 (AES's field),
// without branches on its operands.
func gfMul(a, b byte) byte {
	var acc byte
	for i := 7; i >= 0; i-- {
		acc = (-(acc >> 7) & 0x1b) ^ (acc << 1) ^ (-(b >> i & 1) & a)
	}
	return acc
}

// gfInv is a's inverse in GF(2^8), a^254 (0 for 0).
func gfInv(a byte) byte {
	r := byte(1)
	for range 254 {
		r = gfMul(r, a)
	}
	return r
}
