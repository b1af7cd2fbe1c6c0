package limiter

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

// KeyKind says what a policy counts requests by (docs/configuration.md `key`).
type KeyKind uint8

// The key kinds of docs/configuration.md `[rate_limits.NAME] key`.
const (
	KeyIP         KeyKind = iota + 1 // the client address (see ClientIP), IPv6 by /64
	KeyToken                         // the authenticated token id
	KeyHeader                        // the value of one request header
	KeyRoute                         // the route: one bucket shared by all clients
	KeyClientCert                    // the verified mTLS client certificate subject
)

// String returns the config spelling of k ("header" without the name).
func (k KeyKind) String() string {
	switch k {
	case KeyIP:
		return "ip"
	case KeyToken:
		return "token"
	case KeyHeader:
		return "header"
	case KeyRoute:
		return "route"
	case KeyClientCert:
		return "client_cert"
	}
	return fmt.Sprintf("KeyKind(%d)", uint8(k))
}

// Phase says when the proxy checks a policy of this kind.
func (k KeyKind) Phase() Phase {
	// README.md "Order of checks" step 6: limits keyed by client address
	// or client certificate run before authentication, so token guessing is
	// throttled; step 8: credential, header and route keys run after it.
	if k == KeyIP || k == KeyClientCert {
		return PreAuth
	}
	return PostAuth
}

// Phase is one of the two places in the request pipeline where limits are
// checked (README.md "Order of checks", steps 6 and 8).
type Phase uint8

const (
	PreAuth  Phase = iota // ip and client_cert policies, before authentication
	PostAuth              // token, header and route policies, after authorization
)

const headerPrefix = "header:"

// ParseKey parses a docs/configuration.md `key` value: "ip", "token", "header:<Name>",
// "route" or "client_cert". For "header:<Name>" it also returns Name, which
// must be an RFC 9110 §5.1 field name (a token).
func ParseKey(s string) (KeyKind, string, error) {
	switch s {
	case "ip":
		return KeyIP, "", nil
	case "token":
		return KeyToken, "", nil
	case "route":
		return KeyRoute, "", nil
	case "client_cert":
		return KeyClientCert, "", nil
	}
	if name, ok := strings.CutPrefix(s, headerPrefix); ok {
		if !httpsyntax.IsToken(name) {
			return 0, "", fmt.Errorf("rate limit key %q: header name %q is not an HTTP field name (RFC 9110 §5.1): write header:<Name>, e.g. header:X-Api-Key", s, name)
		}
		return KeyHeader, name, nil
	}
	return 0, "", fmt.Errorf("rate limit key %q: write one of ip, token, header:<Name>, route, client_cert", s)
}

// Policy is one `[rate_limits.NAME]` table. Build it once per config load
// (as a pointer: it carries its binding to a Limiter) and pass every policy
// of the config to Limiter.Update before serving that config.
type Policy struct {
	Name   string  // the table name; sent in the RateLimit fields
	Key    KeyKind // what requests are counted by
	Header string  // the header name when Key == KeyHeader
	Rate   float64 // tokens per second, > 0; fractions allowed; +Inf never limits
	Burst  int     // bucket capacity, >= 1 (0 is allowed only with Rate = +Inf)
	Legacy bool    // also send X-RateLimit-Limit/Remaining/Reset

	st atomic.Pointer[policyState] // set by Limiter.Update or on first use
}

// Validate checks the policy as Build does when a config is compiled, so
// the config errors and this package agree.
func (p *Policy) Validate() error {
	if err := checkName(p.Name); err != nil {
		return &FieldError{Err: err}
	}
	switch p.Key {
	case KeyIP, KeyToken, KeyRoute, KeyClientCert:
		if p.Header != "" {
			return &FieldError{"key", fmt.Errorf("rate limit %q: header %q is only used with key = \"header:<Name>\"", p.Name, p.Header)}
		}
	case KeyHeader:
		if !httpsyntax.IsToken(p.Header) {
			return &FieldError{"key", fmt.Errorf("rate limit %q: header name %q is not an HTTP field name (RFC 9110 §5.1)", p.Name, p.Header)}
		}
	default:
		return &FieldError{"key", fmt.Errorf("rate limit %q: unknown key kind %d: write one of ip, token, header:<Name>, route, client_cert", p.Name, p.Key)}
	}
	switch {
	case math.IsNaN(p.Rate) || p.Rate <= 0:
		return &FieldError{"rate", fmt.Errorf("rate limit %q: rate = %v: write a number of tokens per second greater than 0 (fractions allowed, e.g. 0.5)", p.Name, p.Rate)}
	case p.Burst < 0 || (p.Burst == 0 && !math.IsInf(p.Rate, 1)):
		return &FieldError{"burst", fmt.Errorf("rate limit %q: burst = %d: write a bucket size of at least 1", p.Name, p.Burst)}
	}
	return nil
}

// FieldError is a policy error tagged with the key of the
// [rate_limits.NAME] table it is about ("key", "rate", "burst"; "" for
// the table itself), so Build can point at that key (rate_limits.NAME.KEY).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the untagged error.
func (e *FieldError) Unwrap() error { return e.Err }

// NewPolicy turns one [rate_limits.NAME] table into a Policy: the key
// string parsed, the numbers checked. Errors are *FieldError.
func NewPolicy(name, key string, rate float64, burst int, legacy bool) (*Policy, error) {
	kind, header, err := ParseKey(key)
	if err != nil {
		return nil, &FieldError{"key", err}
	}
	p := &Policy{Name: name, Key: kind, Header: header, Rate: rate, Burst: burst, Legacy: legacy}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkName requires a name that can be sent as a Structured Field String
// (RFC 8941 §3.3.3: printable ASCII), since it is the RateLimit item value.
func checkName(name string) error {
	if name == "" {
		return errors.New("rate limit policy without a name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("rate limit %q: the name must be printable ASCII, it is sent in the RateLimit header fields", name)
		}
	}
	return nil
}

// limit is Rate as the bucket uses it (+Inf is infLimit, like rate.Inf).
func (p *Policy) limit() float64 {
	if math.IsInf(p.Rate, 1) {
		return infLimit
	}
	return p.Rate
}

// window is the RateLimit-Policy `w`: max(1, ceil(burst / rate)) seconds.
func (p *Policy) window() int64 {
	if p.limit() == infLimit || p.Rate <= 0 {
		return 1
	}
	return max(1, ceilSeconds(float64(p.Burst)/p.Rate))
}

// params are the numbers a policy's buckets follow. A reload that changes
// them publishes a new *params; each bucket compares pointers when touched
// and converts itself in place, keeping its tokens (bucket.sync).
type params struct {
	limit float64 // tokens per second; infLimit never refuses
	burst int
	since time.Time // when these numbers took effect (the Update's now)
	// rateArg and burstArg are limit and burst as the Redis script's
	// arguments (see redisArgs); "" in params made by tests.
	rateArg, burstArg string
}

// policyState is what survives a reload for a policy name: the hash seeds
// that place its keys in the store (same seeds, same buckets) and the
// current numbers.
type policyState struct {
	owner    *Limiter
	name     string
	key      KeyKind
	header   string
	seed     maphash.Seed // for the policy's own key
	fallback maphash.Seed // for the client address when the key is absent
	params   atomic.Pointer[params]
}
