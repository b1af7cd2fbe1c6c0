package tlsconf

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build loads and checks the client listener's TLS files of [server]
// (tls_cert, tls_key, tls_client_ca, tls_client_auth) as of now. It
// returns nil without tls_cert (a plain listener). Errors are
// *config.FieldError on the key at fault ("server.tls_cert"); warnings
// name a certificate close to expiry.
func Build(s config.Server, now time.Time) (*ServerState, []string, error) {
	if s.TLSCert == "" || s.TLSKey == "" {
		return nil, nil, nil
	}
	var errs []error
	cert, warn, err := LoadPair(s.TLSCert, s.TLSKey, now)
	if err != nil {
		errs = append(errs, config.Field("server.tls_cert", err))
	}
	st := &ServerState{cert: cert, auth: ClientAuth(string(s.TLSClientAuth))}
	if st.auth != tls.NoClientCert && s.TLSClientCA == "" {
		errs = append(errs, config.Field("server.tls_client_auth", ErrClientAuthWithoutCA))
	}
	if s.TLSClientCA != "" {
		if st.pool, err = LoadPool(s.TLSClientCA); err != nil {
			errs = append(errs, config.Field("server.tls_client_ca", err))
		}
	}
	if len(errs) > 0 {
		return nil, warn, errors.Join(errs...)
	}
	return st, warn, nil
}

// NewServerFrom makes the listener's TLS state holder from a loaded state
// (Build); Apply replaces the state on reload.
func NewServerFrom(st *ServerState) *Server {
	s := &Server{}
	s.Apply(st)
	return s
}
