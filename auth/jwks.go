package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
)

// JWK Sets (RFC 7517 §5). A keySource keeps one issuer's set current: it
// is fetched (jwks_url) or read (jwks_file) when the source is made, again
// every jwks_refresh, and at most once per RefetchInterval when a token
// names a kid the set does not hold (key rotation without a reload). A
// failed fetch keeps the last good set; while none was ever had, the
// issuer's tokens are answered 503 auth_unavailable and readiness says so.

const (
	// RefetchInterval bounds the refetches that unknown kids trigger, so
	// tokens with made-up kids cannot make the gateway hammer the IdP.
	RefetchInterval = 10 * time.Second
	// fetchTimeout bounds one JWK Set request.
	fetchTimeout = 5 * time.Second
	// maxJWKSBytes bounds the body of a JWK Set (real ones are a few KiB).
	maxJWKSBytes = 1 << 20
	// retryMin and retryMax bound the backoff between fetches while the
	// issuer has never had a good set.
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// jwk is one usable verification key of a set.
type jwk struct {
	kid string
	alg string // the JWK's "alg" (RFC 7517 §4.4); "" = any alg fitting the key type
	key crypto.PublicKey
}

// keySet is one fetched JWK Set, immutable.
type keySet struct {
	keys    []jwk
	byKid   map[string]*jwk
	skipped []string // why keys were left out (unsupported type, "use" other than sig, …)
}

// parseJWKS reads a JWK Set document with jwkset (RFC 7517 §5). Keys that
// cannot verify signatures (symmetric keys, "use": "enc", unknown types)
// are skipped and noted, not fatal: IdPs publish encryption keys beside
// signing keys. A set without any usable key is an error.
func parseJWKS(data []byte) (*keySet, error) {
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK Set (RFC 7517 §5): %w", err)
	}
	ks := &keySet{byKid: make(map[string]*jwk, len(doc.Keys))}
	for i, m := range doc.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			ks.skipped = append(ks.skipped, fmt.Sprintf("key %d (kid %q): use %q is not \"sig\"", i, m.KID, m.USE))
			continue
		}
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			ks.skipped = append(ks.skipped, fmt.Sprintf("key %d (kid %q): %v", i, m.KID, err))
			continue
		}
		pub, ok := publicKey(k.Key())
		if !ok {
			ks.skipped = append(ks.skipped, fmt.Sprintf("key %d (kid %q): key type %q cannot verify signatures", i, m.KID, m.KTY))
			continue
		}
		ks.keys = append(ks.keys, jwk{kid: m.KID, alg: m.ALG.String(), key: pub})
	}
	for i := range ks.keys {
		if k := &ks.keys[i]; k.kid != "" {
			if _, dup := ks.byKid[k.kid]; !dup {
				ks.byKid[k.kid] = k
			}
		}
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("the JWK Set holds no usable signature key (%d keys skipped)", len(ks.skipped))
	}
	return ks, nil
}

// publicKey returns the public half of an asymmetric key; symmetric keys
// are never accepted (an HMAC "signed" with a public key is a classic
// forgery).
func publicKey(k any) (crypto.PublicKey, bool) {
	switch k := k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k, true
	case *rsa.PrivateKey:
		return &k.PublicKey, true
	case *ecdsa.PrivateKey:
		return &k.PublicKey, true
	case ed25519.PrivateKey:
		return k.Public(), true
	}
	return nil, false
}

// fits reports whether key k can verify a signature of alg (RFC 7518 §3.1,
// RFC 8037 §3.1).
func (k *jwk) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch k.key.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		return alg[0] == 'E' && alg != "EdDSA"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// keySource keeps one issuer's JWK Set current. It is shared across
// reloads by reference count (a reload that keeps the issuer's jwks_url or
// jwks_file keeps its set and its refresh loop).
type keySource struct {
	url, file string
	client    *http.Client
	now       func() time.Time

	refresh atomic.Int64 // jwks_refresh in nanoseconds; a reload may change it

	set       atomic.Pointer[keySet]
	lastErr   atomic.Pointer[error]
	nextRetry atomic.Int64 // unix nanoseconds of the next fetch while no set was ever had

	mu          sync.Mutex
	inflight    chan struct{} // closed when the fetch in progress ends
	lastRefetch time.Time     // last fetch triggered by an unknown kid

	refs    atomic.Int32
	stop    chan struct{}
	stopped sync.Once
	first   chan struct{} // closed after the first fetch attempt
}

// location names the source in messages: its URL or file.
func (s *keySource) location() string {
	if s.url != "" {
		return s.url
	}
	return s.file
}

func newKeySource(url, file string, refresh time.Duration, client *http.Client, now func() time.Time) *keySource {
	s := &keySource{url: url, file: file, client: client, now: now, stop: make(chan struct{}), first: make(chan struct{})}
	s.refresh.Store(int64(refresh))
	s.refs.Store(1)
	go s.loop()
	return s
}

// loop fetches at once, then every jwks_refresh; while the issuer has
// never had a good set it retries sooner, with backoff.
func (s *keySource) loop() {
	retry := retryMin
	for {
		err := s.fetch()
		wait := time.Duration(s.refresh.Load())
		if err != nil && s.set.Load() == nil {
			wait = min(retry, wait)
			retry = min(2*retry, retryMax)
		} else {
			retry = retryMin
		}
		s.nextRetry.Store(s.now().Add(wait).UnixNano())
		select {
		case <-s.first:
		default:
			close(s.first)
		}
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch loads the set once, one fetch at a time: a caller that finds a
// fetch in progress waits for it instead of starting another.
func (s *keySource) fetch() error {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		<-ch
		if p := s.lastErr.Load(); p != nil {
			return *p
		}
		return nil
	}
	ch := make(chan struct{})
	s.inflight = ch
	s.mu.Unlock()

	ks, err := s.load()
	if err != nil {
		err = fmt.Errorf("JWK Set %s: %w", s.location(), err)
		s.lastErr.Store(&err)
	} else {
		s.set.Store(ks)
		s.lastErr.Store(nil)
	}
	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	close(ch)
	return err
}

func (s *keySource) load() (*keySet, error) {
	var data []byte
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			return nil, err
		}
		data = b
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxJWKSBytes {
			return nil, errors.New("larger than 1MiB")
		}
	}
	return parseJWKS(data)
}

// refetchForKid fetches again because a token named a kid the set does
// not hold, unless such a fetch happened within RefetchInterval. It
// reports whether a fetch was made (or awaited).
func (s *keySource) refetchForKid() bool {
	now := s.now()
	s.mu.Lock()
	if s.inflight == nil && now.Sub(s.lastRefetch) < RefetchInterval && !s.lastRefetch.IsZero() {
		s.mu.Unlock()
		return false
	}
	s.lastRefetch = now
	s.mu.Unlock()
	_ = s.fetch()
	return true
}

// waitFirst waits until the first fetch attempt ended or d passed.
func (s *keySource) waitFirst(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.first:
	case <-t.C:
	}
}

// retryAfter is the whole seconds until the next fetch attempt, at least 1.
func (s *keySource) retryAfter() int {
	d := time.Duration(s.nextRetry.Load() - s.now().UnixNano())
	sec := int((d + time.Second - 1) / time.Second)
	return max(sec, 1)
}

// unavailable returns why the source has no set (nil when it has one).
func (s *keySource) unavailable() error {
	if s.set.Load() != nil {
		return nil
	}
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return fmt.Errorf("JWK Set %s: not fetched yet", s.location())
}

func (s *keySource) acquire() { s.refs.Add(1) }

// release drops one reference; the last stops the refresh loop.
func (s *keySource) release() {
	if s.refs.Add(-1) == 0 {
		s.stopped.Do(func() { close(s.stop) })
	}
}
