package crypt

// A small BIP-173 bech32 codec. age keys are bech32 strings, and age keeps its
// own codec in an internal package we cannot import. Like age's, this one has
// no 90-character limit (age's post-quantum keys are longer) and keeps the
// case of the human-readable part: "AGE-SECRET-KEY-" encodes upper case.

import (
	"errors"
	"fmt"
	"strings"
)

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func bech32Polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= bech32Generator[i]
			}
		}
	}
	return chk
}

// bech32HRPExpand spreads the lower-cased HRP into the checksum input, so
// upper- and lower-case spellings share one checksum.
func bech32HRPExpand(hrp string) []byte {
	h := strings.ToLower(hrp)
	out := make([]byte, 0, 2*len(h)+1)
	for i := 0; i < len(h); i++ {
		out = append(out, h[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(h); i++ {
		out = append(out, h[i]&31)
	}
	return out
}

// bech32ConvertBits regroups bits, e.g. 8-bit bytes into 5-bit symbols.
// When decoding (pad false) leftover bits must be zero padding, as BIP-173
// requires, so a key has exactly one valid spelling.
func bech32ConvertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	out := make([]byte, 0, len(data)*int(from)/int(to)+1)
	for _, v := range data {
		if uint32(v)>>from != 0 {
			return nil, errors.New("invalid data range")
		}
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from {
		return nil, errors.New("illegal zero padding")
	} else if acc<<(to-bits)&maxv != 0 {
		return nil, errors.New("non-zero padding")
	}
	return out, nil
}

func validHRP(hrp string) error {
	if hrp == "" {
		return errors.New("empty human-readable part")
	}
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return fmt.Errorf("invalid character in human-readable part at position %d", i)
		}
	}
	if strings.ToLower(hrp) != hrp && strings.ToUpper(hrp) != hrp {
		return errors.New("mixed-case human-readable part")
	}
	return nil
}

// bech32Encode encodes data under hrp. The result is upper case when hrp is.
func bech32Encode(hrp string, data []byte) (string, error) {
	if err := validHRP(hrp); err != nil {
		return "", err
	}
	values, err := bech32ConvertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	chkInput := append(bech32HRPExpand(hrp), values...)
	chkInput = append(chkInput, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(chkInput) ^ 1
	var b strings.Builder
	b.WriteString(strings.ToLower(hrp))
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := range 6 {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	if strings.ToUpper(hrp) == hrp && strings.ToLower(hrp) != hrp {
		return strings.ToUpper(b.String()), nil
	}
	return b.String(), nil
}
