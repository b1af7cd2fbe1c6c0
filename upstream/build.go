package upstream

import (
	"errors"
	"fmt"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/tlsconf"
)

// Build turns the [[upstreams]] entry at index i into its pool, without
// starting its health checks (Start does, when the config is committed;
// Close releases a pool that never served). Its TLS files are read and
// checked now, so `cobaltgw validate` and a reload refuse a bad file
// instead of the first connection. Errors are *config.FieldError on the
// key at fault ("upstreams[1].tls_ca"); warnings name certificates close
// to expiry and an unverified upstream.
func Build(i int, cfg config.Upstream, opts ...Option) (*Pool, []string, error) {
	p := fmt.Sprintf("upstreams[%d]", i)
	var warn []string
	var errs []error
	for _, ke := range check(cfg) {
		errs = append(errs, config.Field(p+"."+ke.key, ke.err))
	}
	now := time.Now()
	if cfg.TLSCA != "" {
		if _, err := tlsconf.LoadPool(cfg.TLSCA); err != nil {
			errs = append(errs, config.Field(p+".tls_ca", err))
		}
	}
	if cfg.TLSCert != "" && cfg.TLSKey != "" {
		_, w, err := tlsconf.LoadPair(cfg.TLSCert, cfg.TLSKey, now)
		if err != nil {
			errs = append(errs, config.Field(p+".tls_cert", err))
		}
		warn = append(warn, w...)
	}
	if cfg.TLSInsecureSkipVerify {
		warn = append(warn, fmt.Sprintf("upstream %q: tls_insecure_skip_verify = true: its certificates are not verified", cfg.Name))
	}
	if len(errs) > 0 {
		return nil, warn, errors.Join(errs...)
	}
	pool, err := build(cfg, opts...)
	if err != nil {
		return nil, warn, config.Field(p, err)
	}
	return pool, warn, nil
}
