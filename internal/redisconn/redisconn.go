// Package redisconn is the gateway's connection to Redis: Client, the one
// rueidis client the rate limiter and the idempotency store share (made
// on first use, so the gateway starts while Redis is down), and Settings,
// what it reads each time it opens a connection: [store] redis_password
// and redis_timeout. A reload sets them (docs/configuration.md,
// "Reload"): connections opened afterwards dial within the new timeout
// and authenticate with the new password; connections already open stay
// as they are (Redis keeps them authenticated). Every store call carries
// its own deadline of the running redis_timeout, so the client's own
// timeouts are only a ceiling (CallCeiling).
package redisconn

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// CallCeiling is how long a connection may wait for a reply (to a call,
// or to the client's background PING) before it is closed and redialed.
// It does not bound a request: every store call carries its own deadline,
// redis_timeout, and returns at it.
const CallCeiling = 5 * time.Second

// keepAlive is the TCP keep-alive policy of the connections: probes after 30 s idle, the peer declared dead
// after 3 unanswered probes 5 s apart.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// Settings are the running password and timeout. The zero value has no
// password and no dial timeout beyond the caller's deadline.
type Settings struct {
	password atomic.Pointer[string]
	timeout  atomic.Int64 // a time.Duration
}

// New returns Settings holding password and timeout.
func New(password string, timeout time.Duration) *Settings {
	s := &Settings{}
	s.Set(password, timeout)
	return s
}

// Set replaces both; connections opened from now on use them.
func (s *Settings) Set(password string, timeout time.Duration) {
	s.password.Store(&password)
	s.timeout.Store(int64(timeout))
}

// Password is the running redis_password.
func (s *Settings) Password() string {
	if p := s.password.Load(); p != nil {
		return *p
	}
	return ""
}

// Timeout is the running redis_timeout.
func (s *Settings) Timeout() time.Duration { return time.Duration(s.timeout.Load()) }

// Dial opens a TCP connection to addr within the running timeout (and
// ctx's deadline, when earlier).
func (s *Settings) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: s.Timeout(), KeepAliveConfig: keepAlive}
	return d.DialContext(ctx, network, addr)
}
