package proxy

import "errors"

// Path normalization. One normalized form is used both to match routes and
// as the path the upstream receives, so an access rule cannot be bypassed
// by a spelling the upstream reads differently (docs/configuration.md, routes).
//
//   - percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2);
//     other percent-encodings are kept with upper-case hex (§6.2.2.1);
//   - an encoded "/" (%2F), "\" (%5C) or NUL (%00) is refused: the upstream
//     could read it as a separator or a terminator;
//   - a raw "\", control character, space or non-ASCII byte is refused;
//   - duplicate slashes are collapsed;
//   - dot segments are removed (RFC 3986 §5.2.4), also when they were
//     spelled %2E; ".." never climbs above the root;
//   - a segment "." or ".." followed by ";" ("/..;/") is refused: some
//     servers drop the path parameter (RFC 3986 §3.3) and then read a dot
//     segment that was not removed here.

var (
	errBadPath     = errors.New("the request path is not a valid URI path")
	errEncodedPath = errors.New("the request path contains an encoded slash, backslash or NUL")
	errDotParam    = errors.New("a dot segment of the request path has a parameter")
)

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pathChar reports whether c may appear raw in a path: pchar of RFC 3986
// §3.3 plus "/", less "%" which is handled by the caller.
func pathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '/', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

// normalizePath appends the normalized form of the raw path p (which must
// start with "/") to dst. It does not allocate when dst has capacity.
func normalizePath(dst, p []byte) ([]byte, error) {
	if len(p) == 0 || p[0] != '/' {
		return dst, errBadPath
	}
	start := len(dst)
	// segStart is the index in dst where the current segment begins (just
	// after its "/").
	dst = append(dst, '/')
	segStart := len(dst)
	for i := 1; i <= len(p); i++ {
		var c byte
		end := i == len(p)
		if !end {
			c = p[i]
		}
		if end || c == '/' {
			seg := dst[segStart:]
			switch {
			case len(seg) == 1 && seg[0] == '.':
				// "." is dropped; the segment is reopened.
				dst = dst[:segStart]
			case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
				// ".." removes the previous segment, never the root.
				dst = dst[:segStart]
				if segStart-1 > start {
					j := segStart - 2
					for j > start && dst[j] != '/' {
						j--
					}
					dst = dst[:j+1]
				}
				segStart = len(dst)
			case end:
			case len(seg) == 0:
				// duplicate slash: nothing to add
			default:
				dst = append(dst, '/')
				segStart = len(dst)
			}
			if end {
				break
			}
			continue
		}
		if c == '%' {
			if i+2 >= len(p) {
				return dst[:start], errBadPath
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return dst[:start], errBadPath
			}
			d := hi<<4 | lo
			i += 2
			switch {
			case d == '/' || d == '\\' || d == 0:
				return dst[:start], errEncodedPath
			case isUnreserved(d):
				dst = append(dst, d)
			default:
				dst = append(dst, '%', upperHex[d>>4], upperHex[d&0xf])
			}
			continue
		}
		if !pathChar(c) {
			return dst[:start], errBadPath
		}
		if c == ';' {
			if seg := dst[segStart:]; len(seg) > 0 && len(seg) <= 2 && seg[0] == '.' && seg[len(seg)-1] == '.' {
				return dst[:start], errDotParam
			}
		}
		dst = append(dst, c)
	}
	return dst, nil
}

const upperHex = "0123456789ABCDEF"
