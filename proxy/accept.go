package proxy

import (
	"errors"
	"strings"

	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

// Accept negotiation, RFC 9110 §12.5.1. A route can produce a list of media
// types (default application/json). The request is acceptable when Accept
// is absent or empty, or when one producible type gets q > 0 from its most
// specific matching range: type/subtype with parameters, then type/subtype,
// then type/*, then */* (so "application/json;q=0, */*" refuses JSON).
// Names are case-insensitive; several Accept field lines are one list
// (RFC 9110 §5.3). A malformed header is 400, never a panic.
//
// Two legacy spellings are tolerated because widespread clients send them
// (Java's URLConnection default is "…, *; q=.2, */*; q=.2"): a bare "*"
// reads as "*/*", and a q-value written ".2" reads as "0.2".
//
// A parameter of a range must be one the type has, except charset=utf-8,
// which every type the gateway serves satisfies (JSON is UTF-8, RFC 8259 §8.1).

var errBadAccept = errors.New("the Accept header is malformed")

// mediaType is a producible type, lower-cased at load.
type mediaType struct {
	typ, sub string
	params   []mediaParam
	full     string // as configured, for the 406 body
}

type mediaParam struct{ name, value string }

func parseMediaType(s string) mediaType {
	mt := mediaType{full: s}
	base, rest, _ := strings.Cut(s, ";")
	t, sub, _ := strings.Cut(strings.TrimSpace(base), "/")
	mt.typ, mt.sub = strings.ToLower(t), strings.ToLower(sub)
	for rest != "" {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		n, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			mt.params = append(mt.params, mediaParam{strings.ToLower(n), strings.Trim(v, `"`)})
		}
	}
	return mt
}

var (
	typeJSON        = parseMediaType("application/json")
	typeProblemJSON = parseMediaType("application/problem+json")
)

// match levels of specificity, higher wins.
const (
	matchNone = iota
	matchAny
	matchType
	matchExact
	matchExactParams
)

// offer tracks, for one candidate type, the most specific range seen so far
// and its q (in thousandths).
type offer struct {
	level, q int
}

// negotiation is the result for one request.
type negotiation struct {
	acceptable  bool
	problemJSON bool // the client prefers application/problem+json for errors
}

const maxOffers = 16

// negotiate evaluates the Accept field lines against produces.
func negotiate(lines [][]byte, produces []mediaType) (negotiation, error) {
	var offers [maxOffers + 2]offer
	n := min(len(produces), maxOffers)
	seen := false
	for _, line := range lines {
		for len(line) > 0 {
			var elem []byte
			if i := indexUnquoted(line, ','); i >= 0 {
				elem, line = line[:i], line[i+1:]
			} else {
				elem, line = line, nil
			}
			elem = httpsyntax.TrimOWS(elem)
			if len(elem) == 0 {
				continue // empty list elements are allowed, RFC 9110 §5.6.1
			}
			r, err := parseRange(elem)
			if err != nil {
				return negotiation{}, err
			}
			seen = true
			for i := 0; i < n; i++ {
				offers[i].consider(&r, &produces[i])
			}
			offers[maxOffers].consider(&r, &typeJSON)
			offers[maxOffers+1].consider(&r, &typeProblemJSON)
		}
	}
	if !seen {
		return negotiation{acceptable: true}, nil
	}
	res := negotiation{problemJSON: offers[maxOffers+1].q > offers[maxOffers].q}
	for i := 0; i < n; i++ {
		if offers[i].q > 0 {
			res.acceptable = true
			break
		}
	}
	return res, nil
}

func (o *offer) consider(r *mediaRange, mt *mediaType) {
	l := r.matches(mt)
	if l > o.level || l == o.level && l != matchNone && r.q > o.q {
		o.level, o.q = l, r.q
	}
}

// mediaRange is one parsed element of Accept, pointing into the header.
type mediaRange struct {
	typ, sub []byte
	params   []byte // the raw parameters before q, each ";name=value"
	q        int
}

func (r *mediaRange) matches(mt *mediaType) int {
	switch {
	case len(r.typ) == 1 && r.typ[0] == '*':
		return matchAny
	case !strings.EqualFold(string(r.typ), mt.typ):
		return matchNone
	case len(r.sub) == 1 && r.sub[0] == '*':
		return matchType
	case !strings.EqualFold(string(r.sub), mt.sub):
		return matchNone
	}
	if len(r.params) == 0 {
		return matchExact
	}
	ok := true
	eachParam(r.params, func(name, value []byte) {
		if strings.EqualFold(string(name), "charset") && strings.EqualFold(string(value), "utf-8") {
			return
		}
		for _, p := range mt.params {
			if strings.EqualFold(string(name), p.name) && string(value) == p.value {
				return
			}
		}
		ok = false
	})
	if !ok {
		return matchNone
	}
	return matchExactParams
}

// parseRange parses `type/subtype *( OWS ";" OWS name=value )`, with q as
// the weight parameter (RFC 9110 §12.4.2); parameters after q are
// accept-ext and ignored.
func parseRange(b []byte) (mediaRange, error) {
	r := mediaRange{q: 1000}
	semi := indexUnquoted(b, ';')
	base := b
	var rest []byte
	if semi >= 0 {
		base, rest = httpsyntax.TrimOWS(b[:semi]), b[semi:]
	}
	slash := -1
	for i, c := range base {
		if c == '/' {
			slash = i
			break
		}
	}
	if slash < 0 {
		if len(base) == 1 && base[0] == '*' { // legacy "*"
			r.typ, r.sub = base, base
		} else {
			return r, errBadAccept
		}
	} else {
		r.typ, r.sub = base[:slash], base[slash+1:]
		if !httpsyntax.IsToken(r.typ) || !httpsyntax.IsToken(r.sub) || (r.typ[0] == '*' && !(len(r.sub) == 1 && r.sub[0] == '*')) {
			return r, errBadAccept
		}
	}
	// off walks the parameters; r.params ends where q begins.
	off := len(b) - len(rest)
	paramsEnd := len(b)
	for off < len(b) {
		next := indexUnquoted(b[off+1:], ';')
		end := len(b)
		if next >= 0 {
			end = off + 1 + next
		}
		p := httpsyntax.TrimOWS(b[off+1 : end])
		if len(p) > 0 {
			name, value, ok := splitParam(p)
			if !ok {
				return r, errBadAccept
			}
			if len(name) == 1 && (name[0] == 'q' || name[0] == 'Q') {
				q, ok := parseQ(value)
				if !ok {
					return r, errBadAccept
				}
				r.q, paramsEnd = q, off
				break // the rest is accept-ext, RFC 9110 §12.5.1
			}
		}
		off = end
	}
	if semi >= 0 {
		r.params = b[semi:paramsEnd]
	}
	return r, nil
}

// splitParam splits "name=value" (OWS around "=" tolerated) and checks both.
func splitParam(p []byte) (name, value []byte, ok bool) {
	for i, c := range p {
		if c == '=' {
			name, value = httpsyntax.TrimOWS(p[:i]), httpsyntax.TrimOWS(p[i+1:])
			return name, value, httpsyntax.IsToken(name) && validParamValue(value)
		}
	}
	return nil, nil, false
}

// eachParam calls fn for each name=value in raw (";a=b;c=\"d\"").
func eachParam(raw []byte, fn func(name, value []byte)) {
	for len(raw) > 0 {
		raw = raw[1:]
		next := indexUnquoted(raw, ';')
		var p []byte
		if next >= 0 {
			p, raw = httpsyntax.TrimOWS(raw[:next]), raw[next:]
		} else {
			p, raw = httpsyntax.TrimOWS(raw), nil
		}
		if name, v, ok := splitParam(p); ok {
			if len(v) >= 2 && v[0] == '"' {
				v = v[1 : len(v)-1]
			}
			fn(name, v)
		}
	}
}

// parseQ parses a qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], plus the
// legacy ".d" form.
func parseQ(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 5 {
		return 0, false
	}
	whole := 0
	i := 0
	switch v[0] {
	case '0':
		i = 1
	case '1':
		whole, i = 1000, 1
	case '.':
	default:
		return 0, false
	}
	if i == len(v) {
		return whole, true
	}
	if v[i] != '.' || len(v)-i-1 > 3 {
		return 0, false
	}
	frac, mult := 0, 100
	for _, c := range v[i+1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * mult
		mult /= 10
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}

func validParamValue(v []byte) bool {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				continue
			}
			if c < 0x20 && c != '\t' || c == 0x7f || c == '"' {
				return false
			}
		}
		return true
	}
	return httpsyntax.IsToken(v)
}

// indexUnquoted finds c outside quoted strings, or -1.
func indexUnquoted(b []byte, c byte) int {
	inQuote := false
	for i := 0; i < len(b); i++ {
		switch {
		case inQuote && b[i] == '\\':
			i++
		case b[i] == '"':
			inQuote = !inQuote
		case !inQuote && b[i] == c:
			return i
		}
	}
	return -1
}
