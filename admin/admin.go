// Package admin serves the operator endpoints on their own listener
// (docs/configuration.md `[admin] listen`, loopback by default, off with ""), apart
// from client traffic so that probes and scrapes never compete with it
// for max_concurrent and never see the error contract:
//
//	GET /healthz  200 while the process serves (liveness)
//	GET /readyz   200 when the config is loaded, the listener is up and the
//	              store is reachable; 503 with the reason otherwise, and
//	              from the first moment of a drain (readiness)
//	GET /metrics  the Prometheus text exposition of package metrics
//	GET /config     the running configuration as TOML, secrets redacted
//	GET /upstreams  each upstream's targets as JSON: state (up, ejected,
//	                down), requests in flight, ejections, last error; and
//	                whether the upstream is in panic mode
//
// The listener is net/http rather than fasthttp: it answers a few requests
// a second, and keeping it on another server means a saturated or
// draining gateway still answers its probes.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/metrics"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// Options are what the endpoints read. Config and Ready are required.
type Options struct {
	// Config returns the running configuration (after reloads).
	Config func() *config.Config
	// Ready returns nil when the gateway can take traffic, else the reason
	// it cannot (draining, listener not up, store unreachable).
	Ready func() error
	// Metrics is written by /metrics; nil answers 404.
	Metrics *metrics.Metrics
	// Upstreams lists each upstream's targets for /upstreams; nil answers 404.
	Upstreams func() []upstream.Stats
}

// Server is the admin listener.
type Server struct {
	opts Options
	srv  *http.Server
}

// New builds the admin server (not yet listening).
func New(o Options) *Server {
	s := &Server{opts: o}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/config", s.config)
	mux.HandleFunc("/upstreams", s.upstreams)
	s.srv = &http.Server{
		Handler: getOnly(mux),
		// Probes and scrapes are small; slow clients are cut off rather
		// than held (the admin port may be reachable from a pod network).
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return s
}

// upstreams answers each upstream's targets as JSON: state (up, ejected,
// down), requests in flight, ejections, and the last error with its time;
// and per upstream whether it is in panic mode, with its counters.
func (s *Server) upstreams(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Upstreams == nil {
		http.NotFound(w, nil)
		return
	}
	type target struct {
		URL          string     `json:"url"`
		State        string     `json:"state"`
		EjectedUntil *time.Time `json:"ejected_until,omitempty"`
		InFlight     int64      `json:"in_flight"`
		Ejections    uint64     `json:"ejections"`
		LastError    string     `json:"last_error,omitempty"`
		LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
	}
	type pool struct {
		Name string `json:"name"`
		// Panic: fewer than panic_threshold of the targets are in
		// rotation, so requests are balanced over all of them.
		Panic         bool     `json:"panic"`
		PanicRequests uint64   `json:"panic_requests"`
		StaleConns    uint64   `json:"stale_connections"`
		Targets       []target `json:"targets"`
		Retries       struct {
			OK           uint64 `json:"ok"`
			Failed       uint64 `json:"failed"`
			BudgetDenied uint64 `json:"budget_denied"`
		} `json:"retries"`
	}
	var out []pool
	for _, st := range s.opts.Upstreams() {
		p := pool{Name: st.Name, Panic: st.Panic, PanicRequests: st.PanicRequests, StaleConns: st.StaleConns}
		p.Retries.OK, p.Retries.Failed, p.Retries.BudgetDenied = st.RetriesOK, st.RetriesFailed, st.RetriesBudgetDenied
		for _, t := range st.Targets {
			tt := target{URL: t.URL, State: string(t.State), InFlight: t.InFlight, Ejections: t.Ejections, LastError: t.LastError}
			if !t.EjectedUntil.IsZero() {
				tt.EjectedUntil = &t.EjectedUntil
			}
			if !t.LastErrorAt.IsZero() {
				tt.LastErrorAt = &t.LastErrorAt
			}
			p.Targets = append(p.Targets, tt)
		}
		out = append(out, p)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"upstreams": out})
}

// Handler exposes the endpoints, for tests.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve answers on ln until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown closes the listener and waits for requests in progress until
// ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// getOnly answers 405 to anything but GET and HEAD (RFC 9110 §15.5.6:
// with Allow) and marks every answer uncacheable: each reflects this
// instant.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	text(w, http.StatusOK, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Ready(); err != nil {
		text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	text(w, http.StatusOK, "ready")
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	var b bytes.Buffer
	_ = s.opts.Metrics.WritePrometheus(&b)
	w.Header().Set("Content-Type", metrics.ContentType)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	b, err := RedactedTOML(s.opts.Config())
	if err != nil {
		text(w, http.StatusInternalServerError, "encoding the running config: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/toml")
	_, _ = w.Write(b)
}
