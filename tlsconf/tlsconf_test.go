package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate (usable as a CA bundle too)
// and its key into dir.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

func handshakeConfig(t *testing.T, s *Server) *tls.Config {
	t.Helper()
	c, err := s.Config().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientAuthNeedsCA: verifying client certificates without
// tls_client_ca would use the system roots; it is refused at start and on
// reload, and a refused reload leaves the running policy and pool.
func TestClientAuthNeedsCA(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir, "server")
	if _, err := NewServer(cert, key, "", "required", time.Now()); !errors.Is(err, ErrClientAuthWithoutCA) {
		t.Fatalf("start without a CA: %v", err)
	}
	s, err := NewServer(cert, key, cert, "required", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"required", "optional"} {
		if err := s.Reload(cert, key, "", mode, time.Now()); !errors.Is(err, ErrClientAuthWithoutCA) {
			t.Fatalf("reload to %s without a CA: %v", mode, err)
		}
	}
	if c := handshakeConfig(t, s); c.ClientAuth != tls.VerifyClientCertIfGiven || c.ClientCAs == nil {
		t.Fatalf("after a refused reload: ClientAuth %v, ClientCAs %v", c.ClientAuth, c.ClientCAs)
	}
	// Turning client auth off follows the reload.
	if err := s.Reload(cert, key, "", "off", time.Now()); err != nil {
		t.Fatal(err)
	}
	if c := handshakeConfig(t, s); c.ClientAuth != tls.NoClientCert {
		t.Fatalf("after reload to off: ClientAuth %v", c.ClientAuth)
	}
}

// TestSubjectEscapesSeparators: a common name cannot imitate a SAN.
func TestSubjectEscapesSeparators(t *testing.T) {
	u, _ := url.Parse("spiffe://a/b;c")
	leaf := &x509.Certificate{
		Subject:        pkix.Name{CommonName: `x;DNS=admin.internal,\`},
		DNSNames:       []string{"svc.internal"},
		EmailAddresses: []string{"a=b@example.com"},
		URIs:           []*url.URL{u},
	}
	st := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	want := `CN=x\;DNS\=admin.internal\,\\;DNS=svc.internal;EMAIL=a\=b@example.com;URI=spiffe://a/b\;c`
	if got := Subject(st); got != want {
		t.Fatalf("Subject = %q, want %q", got, want)
	}
	if Subject(nil) != "" || Subject(&tls.ConnectionState{}) != "" {
		t.Fatal("no verified certificate must give no subject")
	}
}
