package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// quotaConfig: max_keys_per_client = 3 on an idempotent route without
// gateway auth, on the memory store or on Redis (addr).
func quotaConfig(up, redisAddr string) string {
	store := ""
	if redisAddr != "" {
		store = fmt.Sprintf("[store]\nbackend = \"redis\"\nredis_addrs = [%q]\nredis_timeout = \"500ms\"\n", redisAddr)
	}
	return baseConfig(up, store+`
[idempotency]
lock_timeout = "5s"
ttl = "1h"
max_keys_per_client = 3

[[routes]]
path = "/v1/pay"
methods = ["POST"]
upstream = "api"
`)
}

// TestIdempotencyKeyQuota: one client cannot fill the key store; over its
// share it gets 429 idempotency_quota_exceeded with Retry-After and
// nothing is forwarded; other clients (another Authorization behind the
// same address) keep their own share; X-Org-Token is part of the scope.
func TestIdempotencyKeyQuota(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testKeyQuota(t, "") })
	t.Run("redis", func(t *testing.T) { testKeyQuota(t, redistest.Start(t).Addr()) })
}

func testKeyQuota(t *testing.T, redisAddr string) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	g := startGateway(t, quotaConfig(up.addr, redisAddr))
	post := func(key string, extra ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "POST /v1/pay HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\nIdempotency-Key: %s\r\n", key)
		for _, h := range extra {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("\r\n{}")
		return g.raw(t, b.String())
	}
	for i := range 3 {
		if out := post(fmt.Sprintf("k%d", i)); rawStatus(out) != "201" {
			t.Fatalf("key %d: %s", i, out)
		}
	}
	before := up.count.Load()
	out := post("k3")
	assertRawProblem(t, out, 429, "idempotency_quota_exceeded")
	ra := ""
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Retry-After: "); ok {
			ra = v
		}
	}
	if n, err := strconv.Atoi(ra); err != nil || n < 3500 || n > 3600 {
		t.Fatalf("Retry-After %q, want the seconds until the oldest record expires (about ttl = 1h):\n%s", ra, out)
	}
	if up.count.Load() != before {
		t.Fatal("a request over the quota reached the upstream")
	}
	// A key already used is still judged as before (409), not as quota.
	assertRawProblem(t, post("k0"), 409, "idempotency_key_reused")

	// Behind the same address, a client that authenticates with the
	// upstream has its own scope and its own share.
	for i := range 3 {
		if out := post(fmt.Sprintf("k%d", i), "Authorization: Bearer upstream-token-1"); rawStatus(out) != "201" {
			t.Fatalf("another Authorization, key %d: %s", i, out)
		}
	}
	assertRawProblem(t, post("k3", "Authorization: Bearer upstream-token-1"), 429, "idempotency_quota_exceeded")
	if out := post("k0", "Authorization: Bearer upstream-token-2"); rawStatus(out) != "201" {
		t.Fatalf("a third Authorization: %s", out)
	}
	// X-Org-Token is in the scope: the same key for two orgs is two keys
	// (each still counts against the credential's share).
	if out := post("org-key", "Authorization: Bearer upstream-token-2", "X-Org-Token: org-a"); rawStatus(out) != "201" {
		t.Fatalf("org a: %s", out)
	}
	if out := post("org-key", "Authorization: Bearer upstream-token-2", "X-Org-Token: org-b"); rawStatus(out) != "201" {
		t.Fatalf("org b: %s", out)
	}
}
