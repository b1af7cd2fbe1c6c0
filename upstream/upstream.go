// Package upstream holds the targets of each [[upstreams]] entry and their
// pooled fasthttp clients, picks a target for a request and retries a
// connect failure on another one. It classifies every failure into the
// outcomes the proxy maps onto the contract; it never writes a client
// response.
//
// Outcome rules (CONTRACT.md "Upstream normalization", "Idempotency"):
//   - Unavailable: the request never reached a target (connect refused,
//     DNS failure, connect timeout, every connection busy past
//     connect_timeout). Safe to retry; an idempotency claim is released.
//   - Timeout: no response within the upstream's timeout after the request
//     was sent. The outcome is unknown.
//   - BadResponse: reset, truncated or unparsable response. Unknown too.
package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// Outcome classifies one call.
type Outcome uint8

const (
	OK Outcome = iota
	Unavailable
	Timeout
	BadResponse
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Unavailable:
		return "unavailable"
	case Timeout:
		return "timeout"
	}
	return "bad_response"
}

// Reached reports whether the request may have reached the upstream.
func (o Outcome) Reached() bool { return o != Unavailable }

// Target is one address of an upstream with its connection pool.
type Target struct {
	URL  string
	Addr string
	Host string // host name, for TLS verification
	// HostHeader is the target's authority as written ("127.0.0.1:9000"),
	// sent as Host like nginx's default proxy_set_header Host $proxy_host.
	HostHeader string
	client     *fasthttp.HostClient
}

// Pool is one [[upstreams]] entry.
type Pool struct {
	Name    string
	cfg     config.Upstream
	targets []*Target
	next    atomic.Uint64
}

// dialError marks a failure to connect, so it is told apart from a failure
// on an established connection.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// New builds the pool of an upstream. Connections are opened lazily.
func New(cfg config.Upstream) (*Pool, error) {
	p := &Pool{Name: cfg.Name, cfg: cfg}
	dialer := &fasthttp.TCPDialer{DNSCacheDuration: time.Minute}
	connectTimeout := cfg.ConnectTimeout.D()
	for _, raw := range cfg.Targets {
		scheme, addr, host, err := config.ParseTarget(raw)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
		}
		hc := &fasthttp.HostClient{
			Addr: addr,
			Name: "", // no User-Agent of our own; the client's is forwarded
			Dial: func(a string) (net.Conn, error) {
				c, err := dialer.DialTimeout(a, connectTimeout)
				if err != nil {
					return nil, &dialError{err}
				}
				return c, nil
			},
			MaxConns:                 cfg.MaxConns,
			MaxConnWaitTimeout:       connectTimeout,
			MaxIdleConnDuration:      30 * time.Second,
			ReadBufferSize:           16 << 10,
			MaxResponseBodySize:      MaxResponseBody,
			NoDefaultUserAgentHeader: true,
			DisablePathNormalizing:   true, // the proxy sends its normalized path as is
			// A pooled keep-alive connection the upstream closed meanwhile
			// fails before any response byte; like Go's transport, an
			// idempotent request is tried once more on a new connection.
			MaxIdemponentCallAttempts: 2,
			RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
				return false, idempotent(req.Header.Method()) && (err == io.EOF || errors.Is(err, fasthttp.ErrConnectionClosed))
			},
		}
		if scheme == "https" {
			hc.IsTLS = true
			hc.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		authority := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://"), "/")
		p.targets = append(p.targets, &Target{URL: raw, Addr: addr, Host: host, HostHeader: authority, client: hc})
	}
	return p, nil
}

// MaxResponseBody bounds a buffered upstream response; a larger one is a
// bad response (500) rather than unbounded memory.
const MaxResponseBody = 64 << 20

// Timeout is the upstream's response timeout.
func (p *Pool) Timeout() time.Duration { return p.cfg.Timeout.D() }

// Targets lists the pool's targets.
func (p *Pool) Targets() []*Target { return p.targets }

// pick returns the next target in rotation, skipping the one just tried.
func (p *Pool) pick(avoid *Target) *Target {
	n := uint64(len(p.targets))
	t := p.targets[p.next.Add(1)%n]
	if t == avoid && n > 1 {
		t = p.targets[p.next.Add(1)%n]
	}
	return t
}

// Result describes a finished call.
type Result struct {
	Outcome Outcome
	Target  *Target
	Err     error
	// RetryAfter is the number of seconds until a target is next tried,
	// for Unavailable (at least 1).
	RetryAfter int
	Attempts   int
}

// Do sends req to a target and reads the answer into resp. A connect
// failure of an idempotent request (RFC 9110 §9.2.2) is retried up to
// `retries` times on another target; other methods are never retried, so a
// retry can never execute a request twice.
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) Result {
	var last *Target
	canRetry := idempotent(req.Header.Method())
	res := Result{}
	for attempt := 0; ; attempt++ {
		t := p.pick(last)
		last = t
		req.Header.SetHost(t.HostHeader)
		err := t.client.DoDeadline(req, resp, deadline)
		res.Target, res.Err, res.Attempts = t, err, attempt+1
		res.Outcome = classify(err)
		if res.Outcome != Unavailable || !canRetry || attempt >= p.cfg.Retries || !time.Now().Before(deadline) {
			break
		}
	}
	if res.Outcome == Unavailable {
		res.RetryAfter = 1
	}
	return res
}

func classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var de *dialError
	switch {
	case errors.As(err, &de), errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrDialTimeout):
		return Unavailable
	case errors.Is(err, fasthttp.ErrTimeout):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return BadResponse
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "QUERY":
		return true
	}
	return false
}
