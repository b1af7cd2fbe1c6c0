package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func idemConfig(up, mode, extra string) string {
	return baseConfig(up, fmt.Sprintf(`
[idempotency]
on_reuse = %q
lock_timeout = "5s"

[auth]
[[auth.tokens]]
id = "alice"
sha256 = "%s"
[[auth.tokens]]
id = "bob"
sha256 = "%s"

[[routes]]
path = "/v1/payments"
methods = ["POST", "GET", "PATCH", "PUT"]
upstream = "api"
require_idempotency_key = true

[[routes]]
path = "/v1/authed"
methods = ["POST"]
upstream = "api"
auth = true
%s`, mode, digest("alice-token"), digest("bob-token"), extra))
}

// TestIdempotencyOneExecution: 100 concurrent identical requests with one
// key → exactly one reaches the upstream, 99 get 409.
func TestIdempotencyOneExecution(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id":1}`)
	})
	g := startGateway(t, idemConfig(up.addr, "conflict", ""))
	const n = 100
	var wg sync.WaitGroup
	statuses := make([]int, n)
	codes := make([]string, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r := g.do(t, "POST", "/v1/payments", `{"amount":1}`, "Idempotency-Key: race-key-1", "Content-Type: application/json")
			statuses[i] = r.StatusCode
			if r.StatusCode == 409 {
				codes[i], _ = r.json(t)["code"].(string)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	created, conflicts := 0, 0
	for i, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
			conflicts++
			if codes[i] != "idempotency_key_in_flight" && codes[i] != "idempotency_key_reused" {
				t.Errorf("409 code %q", codes[i])
			}
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if created != 1 || conflicts != n-1 || up.count.Load() != 1 {
		t.Fatalf("created %d conflicts %d upstream executions %d; want 1, %d, 1", created, conflicts, up.count.Load(), n-1)
	}
	// After completion, reuse is "reused".
	r := g.do(t, "POST", "/v1/payments", `{"amount":1}`, "Idempotency-Key: race-key-1")
	assertProblem(t, r, 409, "idempotency_key_reused")
}

func TestIdempotencyKeyRules(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, idemConfig(up.addr, "conflict", ""))
	cases := []struct {
		name    string
		method  string
		headers []string
		status  int
		code    string
	}{
		{"required and missing", "POST", nil, 400, "idempotency_key_required"},
		{"empty key", "POST", []string{"Idempotency-Key: "}, 400, "invalid_idempotency_key"},
		{"too long", "POST", []string{"Idempotency-Key: " + strings.Repeat("k", 256)}, 400, "invalid_idempotency_key"},
		{"two field lines", "POST", []string{"Idempotency-Key: a", "Idempotency-Key: b"}, 400, "invalid_idempotency_key"},
		{"unterminated quote", "POST", []string{`Idempotency-Key: "abc`}, 400, "invalid_idempotency_key"},
		{"space in a bare key", "PATCH", []string{"Idempotency-Key: a b"}, 400, "invalid_idempotency_key"},
		{"non-ASCII", "POST", []string{"Idempotency-Key: clé"}, 400, "invalid_idempotency_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			r := g.do(t, tc.method, "/v1/payments", "{}", tc.headers...)
			assertProblem(t, r, tc.status, tc.code)
			if up.count.Load() != before {
				t.Fatal("refused request reached the upstream")
			}
		})
	}
	t.Run("quoted and bare spellings are the same key", func(t *testing.T) {
		r := g.do(t, "POST", "/v1/payments", "{}", `Idempotency-Key: "same-key"`)
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		req, _ := up.lastRequest()
		if req.Header.Get("Idempotency-Key") != `"same-key"` {
			t.Fatalf("upstream saw Idempotency-Key %q, want it unchanged", req.Header.Get("Idempotency-Key"))
		}
		assertProblem(t, g.do(t, "POST", "/v1/payments", "{}", "Idempotency-Key: same-key"), 409, "idempotency_key_reused")
	})
	t.Run("methods outside the list ignore the header", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := g.do(t, "GET", "/v1/payments", "", "Idempotency-Key: get-key"); r.StatusCode != 200 {
				t.Fatalf("GET %d: status %d", i, r.StatusCode)
			}
			if r := g.do(t, "PUT", "/v1/payments", "{}", "Idempotency-Key: a b c"); r.StatusCode != 200 {
				t.Fatalf("PUT with an invalid key on a method outside the list: status %d", r.StatusCode)
			}
		}
	})
	t.Run("keys are scoped to the credential", func(t *testing.T) {
		for _, tok := range []string{"alice-token", "bob-token"} {
			r := g.do(t, "POST", "/v1/authed", "{}", "Authorization: Bearer "+tok, "Idempotency-Key: shared")
			if r.StatusCode != 200 {
				t.Fatalf("%s: status %d %s", tok, r.StatusCode, r.body)
			}
		}
		assertProblem(t, g.do(t, "POST", "/v1/authed", "{}", "Authorization: Bearer alice-token", "Idempotency-Key: shared"), 409, "idempotency_key_reused")
	})
}

func TestIdempotencyReplay(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/v1/payments/77")
		w.Header().Set("Set-Cookie", "session=abc")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":77,"n":%d}`, time.Now().UnixNano())
	})
	g := startGateway(t, idemConfig(up.addr, "replay", ""))
	first := g.do(t, "POST", "/v1/payments", `{"amount":5}`, "Idempotency-Key: pay-1")
	if first.StatusCode != 201 {
		t.Fatalf("status %d", first.StatusCode)
	}
	second := g.do(t, "POST", "/v1/payments", `{"amount":5}`, "Idempotency-Key: pay-1")
	if second.StatusCode != 201 || string(second.body) != string(first.body) {
		t.Fatalf("replay %d %q, want 201 %q", second.StatusCode, second.body, first.body)
	}
	if second.Header.Get("Idempotent-Replayed") != "true" || second.Header.Get("Location") != "/v1/payments/77" || second.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("replay headers %v", second.Header)
	}
	if second.Header.Get("Set-Cookie") != "" {
		t.Fatal("Set-Cookie must not be replayed")
	}
	if up.count.Load() != 1 {
		t.Fatalf("upstream executions %d", up.count.Load())
	}
	r := g.do(t, "POST", "/v1/payments", `{"amount":6}`, "Idempotency-Key: pay-1")
	assertProblem(t, r, 422, "idempotency_key_mismatch")
	if up.count.Load() != 1 {
		t.Fatalf("upstream executions %d", up.count.Load())
	}
}

// TestIdempotencyOutcomes: a connect failure releases the key; a timeout
// keeps it claimed.
func TestIdempotencyOutcomes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens yet: connections are refused
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Second) })
	g := startGateway(t, idemConfig(addr, "conflict", fmt.Sprintf(`
[[upstreams]]
name = "slow"
targets = ["http://%s"]
timeout = "300ms"

[[routes]]
path = "/v1/slow"
methods = ["POST"]
upstream = "slow"
`, slow.addr)))
	r := g.do(t, "POST", "/v1/payments", "{}", "Idempotency-Key: retry-me")
	assertProblem(t, r, 503, "upstream_unavailable")
	// The upstream comes up: the same key goes through.
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("could not rebind %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo)}
	go srv.Serve(ln2)
	defer srv.Close()
	if r := g.do(t, "POST", "/v1/payments", "{}", "Idempotency-Key: retry-me"); r.StatusCode != 200 {
		t.Fatalf("retry after connect failure: status %d %s", r.StatusCode, r.body)
	}
	assertProblem(t, g.do(t, "POST", "/v1/slow", "{}", "Idempotency-Key: timeout-key"), 503, "upstream_timeout")
	assertProblem(t, g.do(t, "POST", "/v1/slow", "{}", "Idempotency-Key: timeout-key"), 409, "idempotency_key_reused")
	if slow.count.Load() != 1 {
		t.Fatalf("slow upstream executions %d", slow.count.Load())
	}
}

// TestIdempotencyStoreFull: past the memory budget, new keys get 503
// store_unavailable and are never forwarded; requests without a key still
// pass.
func TestIdempotencyStoreFull(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := idemConfig(up.addr, "conflict", "") + "\n[store]\nmemory_budget = \"2MiB\"\n"
	g := startGateway(t, cfg)
	ok, refused := 0, 0
	for i := 0; i < 20000 && refused < 200; i++ {
		r := g.do(t, "POST", "/v1/payments", "{}", fmt.Sprintf("Idempotency-Key: fill-%d", i))
		switch r.StatusCode {
		case 200:
			ok++
		case 503:
			assertProblem(t, r, 503, "store_unavailable")
			refused++
		default:
			t.Fatalf("key %d: status %d %s", i, r.StatusCode, r.body)
		}
	}
	if refused < 200 {
		t.Fatalf("the store never filled: %d stored, %d refused", ok, refused)
	}
	if got := up.count.Load(); got != int64(ok) {
		t.Fatalf("upstream saw %d requests, %d were admitted: refused ones were forwarded", got, ok)
	}
	t.Logf("1MiB of idempotency budget held %d keys before refusing", ok)
	if r := g.do(t, "GET", "/v1/payments", ""); r.StatusCode != 200 {
		t.Fatalf("a request without a key: status %d", r.StatusCode)
	}
}
