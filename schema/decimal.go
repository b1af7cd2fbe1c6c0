package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
)

// decimal is an exact JSON number m / 10^s, normalized so that m has no
// trailing zero digit when s > 0 (so 1.0 and 1 are the same decimal, and a
// decimal is an integer exactly when s == 0). |m| < 10^18, so products in
// the comparisons below are checked for overflow against int64.
//
// The fast validator compares numbers as decimals because JSON numbers are
// decimals (RFC 8259 §6) and the library compares them exactly (as big.Rat):
// a float64 comparison would call 10.99 > 10.99 wrong in either direction.
// A number that does not fit (more than 18 significant digits, or an
// exponent that pushes it out of range) is not a decimal here, and the
// check that needed it answers "unknown", leaving it to the library.
type decimal struct {
	m int64
	s uint8
}

const maxDecimalDigits = 18

var pow10 = [...]int64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// parseDecimal reads a JSON number literal (RFC 8259 §6 grammar, already
// checked by the tokenizer): [-] int [frac] [exp].
func parseDecimal(lit []byte) (decimal, bool) {
	i := 0
	neg := false
	if i < len(lit) && lit[i] == '-' {
		neg = true
		i++
	}
	var m int64
	digits := 0 // significant digits held in m
	scale := 0  // digits after the point held in m
	point := false
	for ; i < len(lit); i++ {
		c := lit[i]
		if c == '.' {
			point = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if m == 0 && c == '0' {
			// A leading zero adds no significant digit; after the point
			// it still shifts the scale.
			if point {
				scale++
			}
			continue
		}
		if digits == maxDecimalDigits {
			return decimal{}, false
		}
		m = m*10 + int64(c-'0')
		digits++
		if point {
			scale++
		}
	}
	if i < len(lit) { // exponent
		i++ // 'e' or 'E'
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		e := 0
		for ; i < len(lit); i++ {
			if e > 1000 {
				return decimal{}, false
			}
			e = e*10 + int(lit[i]-'0')
		}
		if expNeg {
			scale += e
		} else {
			scale -= e
		}
	}
	if m == 0 {
		return decimal{}, true
	}
	for scale > 0 && m%10 == 0 {
		m /= 10
		scale--
	}
	for scale < 0 {
		if m >= pow10[maxDecimalDigits]/10 {
			return decimal{}, false
		}
		m *= 10
		scale++
	}
	if scale > maxDecimalDigits {
		return decimal{}, false
	}
	if neg {
		m = -m
	}
	return decimal{m: m, s: uint8(scale)}, true
}

// decimalFromRat converts a schema bound (the library keeps them as
// big.Rat) when it is a decimal in range.
func decimalFromRat(r *big.Rat) (decimal, bool) {
	if r == nil {
		return decimal{}, false
	}
	// The bound came from a JSON number, so it is m/10^s for some s; find it
	// through the literal big.Rat prints for that scale.
	for s := 0; s <= maxDecimalDigits; s++ {
		if new(big.Int).Rem(big.NewInt(pow10[s]), r.Denom()).Sign() == 0 {
			return parseDecimal([]byte(r.FloatString(s)))
		}
	}
	return decimal{}, false
}

// align brings a and b to one scale; false when that would overflow.
func align(a, b decimal) (x, y int64, ok bool) {
	x, y = a.m, b.m
	switch {
	case a.s < b.s:
		x, ok = mulPow10(x, int(b.s-a.s))
	case b.s < a.s:
		y, ok = mulPow10(y, int(a.s-b.s))
	default:
		ok = true
	}
	return x, y, ok
}

func mulPow10(m int64, n int) (int64, bool) {
	if n > maxDecimalDigits {
		return 0, m == 0
	}
	p := pow10[n]
	lim := int64(1<<63-1) / p
	if m > lim || m < -lim {
		return 0, false
	}
	return m * p, true
}

// cmpDecimal compares a and b: -1, 0 or +1, and false when it cannot tell
// exactly within int64.
func cmpDecimal(a, b decimal) (int, bool) {
	x, y, ok := align(a, b)
	if !ok {
		return 0, false
	}
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

// isMultiple reports whether a is an integer multiple of d (d > 0), the
// "multipleOf" test: a/d is an integer.
func isMultiple(a, d decimal) (multiple, ok bool) {
	x, y, ok := align(a, d)
	if !ok || y == 0 {
		return false, false
	}
	return x%y == 0, true
}

// decimalOfValue converts an enum or const member of the compiled schema
// (a json.Number from decode, or any Go number a caller's decoder made) the
// way the library reads it: through its fmt.Sprint form.
func decimalOfValue(v any) (decimal, bool) {
	switch v.(type) {
	case json.Number, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	default:
		return decimal{}, false
	}
	lit := fmt.Sprint(v)
	if lit == "" || !(lit[0] == '-' || lit[0] >= '0' && lit[0] <= '9') || !json.Valid([]byte(lit)) {
		return decimal{}, false // NaN, Inf
	}
	return parseDecimal([]byte(lit))
}
