package crypt

import (
	"bytes"
	"testing"
)

// TestCombineShares: shares made by evaluating random polynomials (as
// sops's shamir.Split does) combine to the secret from any threshold of
// them; the interop tests prove it on files the pinned sops split.
func TestCombineShares(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	const parts, threshold = 4, 3
	shares := make([][]byte, parts)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = byte(i + 1)
	}
	for idx, s := range secret {
		coef := []byte{s, byte(idx*7 + 3), byte(idx*13 + 5)} // degree threshold-1
		for i := range shares {
			x, y, xp := byte(i+1), byte(0), byte(1)
			for _, c := range coef {
				y ^= gfMul(c, xp)
				xp = gfMul(xp, x)
			}
			shares[i][idx] = y
		}
	}
	for _, pick := range [][]int{{0, 1, 2}, {1, 2, 3}, {3, 0, 2}, {0, 1, 2, 3}} {
		var ps [][]byte
		for _, i := range pick {
			ps = append(ps, shares[i])
		}
		got, err := combineShares(ps)
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("shares %v: %q, %v", pick, got, err)
		}
	}
	if got, _ := combineShares(shares[:2]); bytes.Equal(got, secret) {
		t.Error("two of three needed shares gave the secret")
	}
	for _, bad := range [][][]byte{{shares[0]}, {shares[0], shares[0]}, {shares[0], shares[1][:5]}, {{1}, {2}}} {
		if _, err := combineShares(bad); err == nil {
			t.Errorf("combined bad shares %v", bad)
		}
	}
	for a := 1; a < 256; a++ {
		if gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("gfInv(%d) is not its inverse", a)
		}
	}
}
