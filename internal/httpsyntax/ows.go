package httpsyntax

// TrimOWS removes optional whitespace around a field value or list member
// (RFC 9110 §5.6.3: OWS = *( SP / HTAB )).
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFoldASCII compares b with s ignoring ASCII case only, as field
// names, tokens and media types compare (RFC 9110 §5.1, §8.3.1); unlike
// bytes.EqualFold it never folds Unicode.
func EqualFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
