package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority made in the test: no private
// key is ever checked in.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pem    []byte
	serial atomic.Int64
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(100)
	return ca
}

// issue makes a leaf certificate; it returns the PEM cert and key and the
// serial number.
func (ca *testCA) issue(t *testing.T, cn string, dns []string, client bool) (certPEM, keyPEM []byte, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial = ca.serial.Add(1)
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), serial
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsGateway starts a gateway with a TLS listener whose certificate comes
// from ca; clientAuth is off, optional or required.
func tlsGateway(t *testing.T, ca *testCA, up, clientAuth, extra string) (*gateway, string) {
	t.Helper()
	dir := t.TempDir()
	c, k, _ := ca.issue(t, "gateway", []string{"localhost"}, false)
	writeFile(t, dir, "server.pem", c)
	writeFile(t, dir, "server.key", k)
	writeFile(t, dir, "ca.pem", ca.pem)
	clientCA := ""
	if clientAuth != "off" {
		clientCA = `tls_client_ca = "ca.pem"`
	}
	cfg := strings.Replace(baseConfig(up, extra), `listen = "127.0.0.1:0"`, fmt.Sprintf(`listen = "127.0.0.1:0"
tls_cert = "server.pem"
tls_key = "server.key"
tls_client_auth = %q
%s`, clientAuth, clientCA), 1)
	path := writeFile(t, dir, "config.toml", []byte(cfg))
	return startGatewayFile(t, path), dir
}

func tlsClient(ca *testCA, cert *tls.Certificate, maxVersion uint16) *http.Client {
	cfg := &tls.Config{RootCAs: ca.pool(), ServerName: "localhost", MaxVersion: maxVersion}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	r, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r, b
}

func TestTLSListener(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	g, _ := tlsGateway(t, ca, up.addr, "off", "")
	c := tlsClient(ca, nil, 0)
	r, body := get(t, c, "https://"+g.addr+"/v1/assets")
	if r.StatusCode != 200 || r.TLS == nil {
		t.Fatalf("status %d body %s", r.StatusCode, body)
	}
	if r.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("version %x", r.TLS.Version)
	}
	// Offered h2 and http/1.1, the gateway picks http/1.1 (no HTTP/2).
	conn, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: ca.pool(), ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN = %q", p)
	}
	conn.Close()
	req, _ := up.lastRequest()
	if req.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("X-Forwarded-Proto = %q", req.Header.Get("X-Forwarded-Proto"))
	}
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		_, err := tlsClient(ca, nil, tls.VersionTLS11).Get("https://" + g.addr + "/v1/assets")
		if err == nil {
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
}

func TestMutualTLS(t *testing.T) {
	ca := newCA(t, "test ca")
	other := newCA(t, "other ca")
	up := newUpstream(t, echo)
	g, _ := tlsGateway(t, ca, up.addr, "required", `
[rate_limits.per_cert]
key = "client_cert"
rate = 0.01
burst = 2

[[routes]]
path = "/v1/certs"
methods = ["GET"]
upstream = "api"
rate_limits = ["per_cert"]
`)
	t.Run("no certificate is 401 client_certificate_required", func(t *testing.T) {
		r, body := get(t, tlsClient(ca, nil, 0), "https://"+g.addr+"/v1/assets")
		assertProblem(t, &response{r, body}, 401, "client_certificate_required")
	})
	t.Run("untrusted certificate fails the handshake", func(t *testing.T) {
		c, k, _ := other.issue(t, "intruder", nil, true)
		cert, _ := tls.X509KeyPair(c, k)
		// Present it whatever CAs the server asks for (Go's client would
		// otherwise send none; curl and others send it anyway).
		conn, err := tls.Dial("tcp", g.addr, &tls.Config{
			RootCAs: ca.pool(), ServerName: "localhost",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		})
		if err == nil {
			// TLS 1.3 reports the server's refusal on the first read.
			fmt.Fprintf(conn, "GET /v1/assets HTTP/1.1\r\nHost: localhost\r\n\r\n")
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("an untrusted client certificate was accepted")
		}
	})
	t.Run("trusted certificate passes, subject forwarded, spoofed one stripped", func(t *testing.T) {
		c, k, _ := ca.issue(t, "svc-a", []string{"svc-a.internal"}, true)
		cert, _ := tls.X509KeyPair(c, k)
		client := tlsClient(ca, &cert, 0)
		req, _ := http.NewRequest("GET", "https://"+g.addr+"/v1/assets", nil)
		req.Header.Set("X-Client-Cert-Subject", "CN=admin")
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		seen, _ := up.lastRequest()
		if v := seen.Header.Values("X-Client-Cert-Subject"); len(v) != 1 || v[0] != "CN=svc-a;DNS=svc-a.internal" {
			t.Fatalf("X-Client-Cert-Subject upstream = %q", v)
		}
		// client_cert rate limits count per certificate.
		for i := 0; i < 2; i++ {
			if r, _ := get(t, client, "https://"+g.addr+"/v1/certs"); r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
		}
		r2, body := get(t, client, "https://"+g.addr+"/v1/certs")
		assertProblem(t, &response{r2, body}, 429, "rate_limited")
		c2, k2, _ := ca.issue(t, "svc-b", nil, true)
		cert2, _ := tls.X509KeyPair(c2, k2)
		if r, _ := get(t, tlsClient(ca, &cert2, 0), "https://"+g.addr+"/v1/certs"); r.StatusCode != 200 {
			t.Fatalf("another certificate: status %d", r.StatusCode)
		}
	})
}

// TestCertificateRotation: a reload swaps the certificate for new
// connections while an open keep-alive connection keeps being served.
func TestCertificateRotation(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	g, dir := tlsGateway(t, ca, up.addr, "off", "")
	conn, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	oldSerial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	roundTrip := func() string {
		fmt.Fprintf(conn, "GET /v1/assets HTTP/1.1\r\nHost: localhost\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("keep-alive connection: %v", err)
		}
		return string(buf[:n])
	}
	if !strings.HasPrefix(roundTrip(), "HTTP/1.1 200") {
		t.Fatal("first request failed")
	}
	c, k, newSerial := ca.issue(t, "gateway", []string{"localhost"}, false)
	writeFile(t, dir, "server.pem", c)
	writeFile(t, dir, "server.key", k)
	g.signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		got := c2.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
		c2.Close()
		if got == newSerial {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still see serial %d, want %d", got, newSerial)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(roundTrip(), "HTTP/1.1 200") {
		t.Fatal("the open connection was not served after the rotation")
	}
	if oldSerial == newSerial {
		t.Fatal("serials must differ")
	}
	t.Run("a bad new pair keeps the old one", func(t *testing.T) {
		writeFile(t, dir, "server.key", []byte("not a key"))
		g.signal(syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
		r, _ := get(t, tlsClient(ca, nil, 0), "https://"+g.addr+"/v1/assets")
		if r.StatusCode != 200 || r.TLS.PeerCertificates[0].SerialNumber.Int64() != newSerial {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
}

// TestHTTPSUpstream: an https target verified against a private CA, and a
// wrong server name refused as 503 upstream_unavailable.
func TestHTTPSUpstream(t *testing.T) {
	ca := newCA(t, "upstream ca")
	c, k, _ := ca.issue(t, "api.internal", []string{"api.internal"}, false)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo)}
	go srv.Serve(ln)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, dir, "upstream-ca.pem", ca.pem)
	cfg := fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = ""
[[upstreams]]
name = "good"
targets = ["https://%[1]s"]
tls_ca = "upstream-ca.pem"
tls_server_name = "api.internal"
[[upstreams]]
name = "wrongname"
targets = ["https://%[1]s"]
tls_ca = "upstream-ca.pem"
tls_server_name = "other.internal"
[[routes]]
path = "/good"
methods = ["GET"]
upstream = "good"
[[routes]]
path = "/bad"
methods = ["GET"]
upstream = "wrongname"
`, ln.Addr().String())
	g := startGatewayFile(t, writeFile(t, dir, "config.toml", []byte(cfg)))
	for i := 0; i < 3; i++ {
		if r := g.do(t, "GET", "/good", ""); r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
	}
	assertProblem(t, g.do(t, "GET", "/bad", ""), 503, "upstream_unavailable")
}
