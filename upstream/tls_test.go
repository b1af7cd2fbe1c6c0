package upstream

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTLSTargets(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok200))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		ca         string
		serverName string
		want       Outcome
	}{
		{"verified against tls_ca", ca, "", OK},
		{"tls_server_name overrides the host", ca, "example.com", OK},
		{"a name the certificate lacks is a connect failure", ca, "wrong.invalid", Unavailable},
		{"system roots do not know the test CA: connect failure, never sent", "", "", Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.TLSCA, cfg.TLSServerName = tc.ca, tc.serverName
			p := newPool(t, cfg)
			res, code := get(p, "GET", time.Now().Add(5*time.Second))
			if res.Outcome != tc.want || (tc.want == OK && code != 200) {
				t.Fatalf("got %+v %d, want %s", res, code, tc.want)
			}
		})
	}
	cfg := testConfig(srv.URL)
	cfg.TLSCA = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := New(cfg); err == nil {
		t.Fatal("a missing tls_ca file was accepted")
	}
}
