package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// Target is one address of an upstream with its connection pool and its
// health. The exported fields are fixed at New; the rest is owned by the
// pool (see the package comment).
type Target struct {
	URL  string
	Addr string
	Host string // host name, for TLS verification
	// HostHeader is the target's authority as written ("127.0.0.1:9000"),
	// sent as Host like nginx's default proxy_set_header Host $proxy_host.
	HostHeader string

	scheme []byte               // "http" or "https"
	client *fasthttp.HostClient // requests: max_conns, waits connect_timeout
	dial   fasthttp.DialFunc    // a connection outside the pool (upgrades)
	check  *fasthttp.HostClient // active checks: one connection, closed after each

	// Request path, lock-free.
	inflight  atomic.Int64
	fails     atomic.Int32  // consecutive passive failures
	streak    atomic.Int32  // ejections since the last successful request
	ejections atomic.Uint64 // total passive ejections
	lastErr   atomic.Pointer[errRecord]

	// Guarded by Pool.mu.
	ejected      bool
	ejectedUntil time.Time
	down         bool // failed unhealthy_after active checks in a row
	checkPasses  int  // consecutive
	checkFails   int  // consecutive
	nextCheck    time.Time
}

type errRecord struct {
	msg string
	at  time.Time
}

// InFlight is the number of requests being sent to t or awaiting its answer.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

func newTarget(cfg config.Upstream, raw string, tc *tls.Config) (*Target, error) {
	scheme, addr, host, err := config.ParseTarget(raw)
	if err != nil {
		return nil, err
	}
	var ttc *tls.Config
	if scheme == "https" {
		ttc = tc.Clone()
		if ttc.ServerName == "" {
			ttc.ServerName = host
		}
	}
	connectTimeout := cfg.ConnectTimeout.D()
	hc := &fasthttp.HostClient{
		Addr: addr,
		Name: "", // no User-Agent of our own; the client's is forwarded
		// Every read and write on a request connection gets `timeout` from
		// its start: the timeout bounds the wait for the response head and
		// each silence in a streamed body, not the whole transfer.
		Dial: dialFunc(connectTimeout, ttc, cfg.Timeout.D()),
		// fasthttp never opens more than MaxConns and parks a request that
		// finds them all busy for at most MaxConnWaitTimeout, then answers
		// ErrNoFreeConns (→ Unavailable): the wait is bounded in time, never
		// an unbounded queue.
		MaxConns:                 cfg.MaxConns,
		MaxConnWaitTimeout:       connectTimeout,
		MaxIdleConnDuration:      30 * time.Second,
		ReadBufferSize:           16 << 10,
		MaxResponseBodySize:      MaxResponseBody,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true, // the proxy sends its normalized path as is
		// Bodies past 64 KiB, or of unknown length, stream (transport.go).
		Transport: streamTransport{},
		// fasthttp's own retry is off: by default it resends GET, HEAD and
		// PUT on any error but a too-large body, on a pooled connection of
		// the same target, outside the retry budget and unseen by the
		// health state. Pool.Do makes every attempt itself (RetryDecision):
		// one DoDeadline call is one exchange on one connection.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	checkTimeout := min(connectTimeout, cfg.HealthTimeout.D())
	chk := &fasthttp.HostClient{
		Addr:                      addr,
		Dial:                      dialFunc(checkTimeout, ttc, 0),
		MaxConns:                  1,
		ReadBufferSize:            4 << 10,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		MaxIdemponentCallAttempts: 1,
	}
	if ttc != nil {
		// The TLS handshake happens in dialFunc, so that its failure is a
		// connect failure; fasthttp keeps a conn that already speaks TLS.
		hc.IsTLS, hc.TLSConfig = true, ttc
		chk.IsTLS, chk.TLSConfig = true, ttc
	}
	authority := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://"), "/")
	return &Target{URL: raw, Addr: addr, Host: host, HostHeader: authority, scheme: []byte(scheme), client: hc, check: chk,
		dial: dialTunnel(connectTimeout, ttc)}, nil
}

// prepare addresses req to t. The Host field is the target's authority,
// kept by Write even when the URI was parsed with another host (the
// client's, or the target of a previous attempt). The URI's scheme must
// match the client's, whatever the gateway's own listener speaks.
func (t *Target) prepare(req *fasthttp.Request) {
	req.UseHostHeader = true
	req.Header.SetHost(t.HostHeader)
	req.URI().SetSchemeBytes(t.scheme)
}

// dialer is shared by every pool, so its DNS cache (and the one goroutine
// that expires it) outlives reloads instead of being rebuilt per config.
var dialer = &fasthttp.TCPDialer{DNSCacheDuration: time.Minute}

// dialFunc connects (IPv4 or IPv6) within timeout and, for TLS targets,
// completes the handshake within the same bound. Every failure is a
// *dialError. The socket is wrapped in a conn (see conn.go); with idle > 0
// that is wrapped in an idleConn, armed once connected.
func dialFunc(timeout time.Duration, tc *tls.Config, idle time.Duration) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		start := time.Now()
		tcp, err := dialer.DialDualStackTimeout(addr, timeout)
		if err != nil {
			return nil, &dialError{err}
		}
		w := newConn(tcp) // innermost: it sees the bytes as they cross the socket
		var c net.Conn = w
		var ic *idleConn
		if idle > 0 {
			ic = &idleConn{Conn: c, idle: idle}
			c = ic
			defer func() { ic.armed = true }()
		}
		if tc == nil {
			return c, nil
		}
		w.tls = true
		tl := tls.Client(c, tc)
		_ = c.SetDeadline(start.Add(timeout))
		if err := tl.Handshake(); err != nil {
			c.Close()
			return nil, &dialError{fmt.Errorf("tls handshake: %w", err)}
		}
		_ = c.SetDeadline(time.Time{})
		w.resetExchanges()
		return tl, nil
	}
}

// idleConn, once armed, keeps its read (write) deadline at least idle
// ahead of every read (write), so a transfer that keeps moving is never cut
// while a silence of idle is. The deadlines fasthttp sets itself (the
// absolute one of DoDeadline) are ignored once armed: the idle bound covers
// the wait for the response head, and a streamed body outlives any
// absolute deadline (README "Streaming").
//
// Moving a deadline is a runtime timer change; made on every read and
// write it was two or three per proxied request (README "Performance").
// So a deadline is moved only when it is less than idle ahead, and then to
// idle + idle/16 ahead: a silence is cut after at least idle and at most
// idle/16 more, and a busy connection moves each deadline about once per
// idle/16.
type idleConn struct {
	net.Conn
	idle   time.Duration
	armed  bool
	rd, wd int64 // deadlines set, in monotonic ns since clockStart; 0 = none
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.armed {
		if err := c.extend(&c.rd, c.Conn.SetReadDeadline); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.armed {
		if err := c.extend(&c.wd, c.Conn.SetWriteDeadline); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// extend moves the deadline *d with set when it is less than idle ahead.
// The clock is the monotonic one: a wall-clock step cannot leave a busy
// connection's deadline unmoved until it cuts the transfer.
func (c *idleConn) extend(d *int64, set func(time.Time) error) error {
	now := time.Now()
	mono := int64(now.Sub(clockStart))
	if *d != 0 && *d-mono >= int64(c.idle) {
		return nil
	}
	ahead := c.idle + c.idle/16
	*d = mono + int64(ahead)
	return set(now.Add(ahead))
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	if c.armed {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	if c.armed {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	if c.armed {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

// loadTLS builds the TLS settings the upstream's https targets share
// (each adds its host as ServerName unless tls_server_name is set). Files
// are read at every New, so a reload picks up rotated certificates.
func loadTLS(cfg config.Upstream) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.TLSServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(0), // resumed handshakes on new connections
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify,       //nolint:gosec // opt-in, warned at every load
	}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca %q holds no PEM certificate", cfg.TLSCA)
		}
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
