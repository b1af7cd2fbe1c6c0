// Package tlsconf builds the gateway's TLS configurations: the listener's
// (TLS 1.2+ only, HTTP/1.1 by ALPN, the certificate served from an atomic
// pointer so a reload swaps it without dropping a connection, client
// certificates verified when given) and the upstream client's (private
// CA, server name, client certificate for mTLS upstreams). It also checks
// certificate files for `cobaltgw validate`: they exist, parse, match
// their key and have not expired.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// ExpiryWarning is how close to its NotAfter a certificate gets a warning.
const ExpiryWarning = 14 * 24 * time.Hour

// LoadPair reads a PEM certificate chain and its key and checks that they
// match and that the leaf is valid at now. It returns warnings for a leaf
// that expires within ExpiryWarning.
func LoadPair(certFile, keyFile string, now time.Time) (tls.Certificate, []string, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("loading %s and %s: %w", certFile, keyFile, plainPairError(err))
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, nil, fmt.Errorf("parsing %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, nil, fmt.Errorf("certificate %s expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, nil, fmt.Errorf("certificate %s is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	var warn []string
	if leaf.NotAfter.Sub(now) < ExpiryWarning {
		warn = append(warn, fmt.Sprintf("certificate %s expires on %s (in less than 14 days)", certFile, leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	return cert, warn, nil
}

func plainPairError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "private key does not match public key") {
		return errors.New("the key does not belong to the certificate")
	}
	return err
}

// LoadPool reads a PEM bundle of CA certificates.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// ClientAuth maps tls_client_auth to the handshake policy. Both optional
// and required verify a certificate that is presented (an untrusted one
// fails the handshake) but admit a connection without one: for
// "required" the HTTP layer answers 401 client_certificate_required, so
// the client sees the contract instead of a bare handshake alert.
func ClientAuth(mode string) tls.ClientAuthType {
	if mode == "optional" || mode == "required" {
		return tls.VerifyClientCertIfGiven
	}
	return tls.NoClientCert
}

// Server is the listener's TLS state. Reload swaps the certificate and the
// client CA pool atomically; connections already open keep theirs.
type Server struct {
	cert      atomic.Pointer[tls.Certificate]
	clientCAs atomic.Pointer[x509.CertPool]
	auth      atomic.Int32 // tls.ClientAuthType
}

// ErrClientAuthWithoutCA refuses client certificate verification without
// tls_client_ca: Go would verify against the system roots, which trust
// any certificate a public CA issued.
var ErrClientAuthWithoutCA = errors.New("tls_client_auth is on but tls_client_ca is empty; the system roots must never verify client certificates")

// NewServer loads the listener's certificate and, when clientCA is set,
// the pool that verifies client certificates.
func NewServer(certFile, keyFile, clientCA, clientAuth string, now time.Time) (*Server, error) {
	s := &Server{}
	if err := s.Reload(certFile, keyFile, clientCA, clientAuth, now); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload loads new files and the client certificate policy; on error the
// running certificate, CA pool and policy all stay. A policy that verifies
// client certificates without a CA bundle is refused
// (ErrClientAuthWithoutCA).
func (s *Server) Reload(certFile, keyFile, clientCA, clientAuth string, now time.Time) error {
	st, err := LoadServer(certFile, keyFile, clientCA, clientAuth, now)
	if err != nil {
		return err
	}
	s.Apply(st)
	return nil
}

// ServerState is a listener's certificate, client CA pool and client
// certificate policy, loaded and checked but not yet in use: a reload
// prepares one with LoadServer and commits it with Apply, which cannot
// fail.
type ServerState struct {
	cert tls.Certificate
	pool *x509.CertPool
	auth tls.ClientAuthType
}

// LoadServer reads and checks the listener's files and policy.
func LoadServer(certFile, keyFile, clientCA, clientAuth string, now time.Time) (*ServerState, error) {
	auth := ClientAuth(clientAuth)
	if auth != tls.NoClientCert && clientCA == "" {
		return nil, ErrClientAuthWithoutCA
	}
	cert, _, err := LoadPair(certFile, keyFile, now)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if clientCA != "" {
		if pool, err = LoadPool(clientCA); err != nil {
			return nil, err
		}
	}
	return &ServerState{cert: cert, pool: pool, auth: auth}, nil
}

// Apply puts a loaded state in use for new handshakes.
func (s *Server) Apply(st *ServerState) {
	cert := st.cert
	s.cert.Store(&cert)
	s.clientCAs.Store(st.pool)
	s.auth.Store(int32(st.auth))
}

// Serial is the running certificate's serial number, for logs and tests.
func (s *Server) Serial() string { return s.cert.Load().Leaf.SerialNumber.String() }

// Config is the listener's tls.Config: TLS 1.2 and 1.3 only, Go's modern
// cipher suites, ALPN http/1.1 (fasthttp speaks no HTTP/2). The
// certificate and client CAs are read per handshake, so a reload applies
// to new connections at once.
func (s *Server) Config() *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		cert := s.cert.Load()
		c.Certificates = []tls.Certificate{*cert}
		c.ClientAuth = tls.ClientAuthType(s.auth.Load())
		c.ClientCAs = s.clientCAs.Load()
		return c, nil
	}
	return base
}

// Upstream builds the client TLS config of an upstream's https targets:
// verification against the system roots or caFile, with serverName (or the
// target's host when empty), and a client certificate when certFile is set.
func Upstream(caFile, serverName, certFile, keyFile string, insecure bool, now time.Time) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: insecure} //nolint:gosec // tls_insecure_skip_verify is the operator's explicit choice, warned at every load
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if certFile != "" {
		cert, _, err := LoadPair(certFile, keyFile, now)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Subject describes a verified client certificate for policies and the
// upstream's X-Client-Cert-Subject: "CN=<common name>" followed by its
// DNS, email and URI SANs, e.g. "CN=svc-a;DNS=svc-a.internal". Inside each
// value, a backslash, ";", "=" and "," are escaped with a backslash, so a
// crafted common name "x;DNS=admin.internal" reads `CN=x\;DNS\=admin.internal`
// and cannot imitate a SAN (README.md "Security notes"). It is "" when no
// certificate was verified.
func Subject(state *tls.ConnectionState) string {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return ""
	}
	leaf := state.PeerCertificates[0]
	var b strings.Builder
	b.WriteString("CN=")
	writeEscaped(&b, leaf.Subject.CommonName)
	for _, d := range leaf.DNSNames {
		b.WriteString(";DNS=")
		writeEscaped(&b, d)
	}
	for _, e := range leaf.EmailAddresses {
		b.WriteString(";EMAIL=")
		writeEscaped(&b, e)
	}
	for _, u := range leaf.URIs {
		b.WriteString(";URI=")
		writeEscaped(&b, u.String())
	}
	return sanitize(b.String())
}

// writeEscaped writes v with its separators escaped (see Subject).
func writeEscaped(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', ';', '=', ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}

// sanitize keeps the subject a safe header value: printable ASCII only.
func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	return string(out)
}
