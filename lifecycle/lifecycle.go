// Package lifecycle runs the gateway process: it opens the listeners
// (client traffic and, unless `[admin] listen = ""`, the admin listener
// with probes, metrics and the running config), reloads the configuration
// on SIGHUP and, with `[server] watch = true`, when the file or a file it
// refers to (TLS files, JSON Schemas) changes, and drains on SIGTERM or
// SIGINT.
//
// Reload: the new file is read, decoded and compiled first (the compile
// step of `cobaltgw validate`, proxy.Compile); a bad one leaves the
// running config untouched, is logged with its file:line:col errors and
// counted (cobaltgw_config_reloads_total{result="error"}). A good one is
// swapped in atomically; requests in flight finish on the config they
// began with (proxy.Gateway.Reload), and the [log] format and level apply
// to the next line. The listen addresses and the store's backend,
// addresses and memory budget take effect at the next start; a reload that
// changes them says so in one warning.
//
// Drain: readiness turns 503 at once, the client listener closes, requests
// in flight get until shutdown_grace to finish (their responses carry
// Connection: close), then the process exits 0. A second SIGTERM or SIGINT
// during the drain exits at once, non-zero.
//
// Reloads, the watch and the drain all run on one goroutine, so they never
// overlap.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cobaltgw/cobaltgw/admin"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/metrics"
	"github.com/cobaltgw/cobaltgw/proxy"
)

// pollInterval is how often the config file is checked when watch = true.
const pollInterval = time.Second

// process is the running gateway and what its reloads and drain need.
type process struct {
	log   *slog.Logger
	gw    *proxy.Gateway
	m     *metrics.Metrics // nil when the admin listener is off
	admin *admin.Server    // nil when the admin listener is off
	path  string
	watch *fileWatch
	deps  depWatch

	serving  atomic.Bool // the client listener is up
	draining atomic.Bool
}

// Run serves cfg until a terminating signal, then drains. It returns nil
// after a clean drain.
func Run(cfg *config.Config, log *slog.Logger) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	return run(cfg, log, sigs)
}

func run(cfg *config.Config, log *slog.Logger, sigs <-chan os.Signal) error {
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	gw, err := proxy.New(cfg, log)
	var list *config.ErrorList
	if errors.As(err, &list) {
		return err // file:line:col, one per line, as validate prints them
	}
	if err != nil {
		return fmt.Errorf("building gateway: %w", err)
	}
	p := &process{log: log, gw: gw, path: cfg.Path, watch: newFileWatch(cfg.Path), deps: depWatch{settle: 100 * time.Millisecond}}

	adminErr := make(chan error, 1)
	if cfg.Admin.Listen != "" {
		// Metrics are collected only when something can scrape them:
		// admin.listen = "" takes the observer off the request path.
		p.m = metrics.New(time.Now())
		p.m.SetSources(sources(gw))
		gw.SetObserver(p.m)
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin listener on %s: %w", cfg.Admin.Listen, err)
		}
		p.admin = admin.New(admin.Options{Config: gw.Config, Ready: p.ready, Metrics: p.m, Upstreams: gw.UpstreamStats})
		go func() { adminErr <- p.admin.Serve(aln) }()
		log.Info("admin listening", "addr", aln.Addr().String())
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		p.closeAdmin()
		return fmt.Errorf("listening on %s: %w", cfg.Server.Listen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.Serve(ln) }()
	p.serving.Store(true)
	log.Info("listening", "addr", ln.Addr().String(), "config", cfg.Path)

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-serveErr:
			p.closeAdmin()
			return fmt.Errorf("serving: %w", err)
		case err := <-adminErr:
			// The admin listener failed on its own: keep serving clients,
			// which matter more than probes; the orchestrator will notice.
			log.Error("admin listener stopped", "error", fmt.Sprint(err))
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				p.reloadFile("SIGHUP")
				continue
			}
			return p.drain(sig, sigs)
		case <-tick.C:
			if cur := gw.Config(); cur.Server.Watch {
				if data, ok := p.watch.changed(); ok {
					p.reload("file change", data)
				} else if f := p.deps.changed(depFiles(cur, gw.OpenAPIFiles()...)); f != "" {
					p.reloadFile("change of " + f)
				}
			}
		}
	}
}

// ready is /readyz: nil when the gateway takes traffic.
func (p *process) ready() error {
	switch {
	case p.draining.Load():
		return errors.New("draining")
	case !p.serving.Load():
		return errors.New("the listener is not up")
	}
	// The shared store (Redis) must answer; the memory store always does.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.gw.Ready(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	// An [[auth.jwt]] issuer whose JWK Set never loaded answers 503
	// auth_unavailable to its tokens: not ready until it loads.
	if err := p.gw.AuthReady(); err != nil {
		return err
	}
	return nil
}

func (p *process) drain(sig os.Signal, sigs <-chan os.Signal) error {
	p.draining.Store(true)
	grace := p.gw.Config().Server.ShutdownGrace.D()
	p.log.Info("draining", "signal", sig.String(), "grace", grace.String(), "inflight", p.gw.Inflight())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.gw.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			p.closeAdmin()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err != nil {
				p.log.Warn("drain grace expired with requests in flight", "inflight", p.gw.Inflight())
			}
			p.log.Info("stopped")
			return nil
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue // no reloads during a drain; not a reason to stop now
			}
			p.log.Warn("second signal: exiting now", "signal", s.String(), "inflight", p.gw.Inflight())
			return fmt.Errorf("interrupted during drain by %s", s)
		}
	}
}

// closeAdmin stops the admin listener, briefly waiting for a scrape in
// progress.
func (p *process) closeAdmin() {
	if p.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.admin.Shutdown(ctx)
}

// Wait is a helper for tests: poll addr until it accepts or d passes.
func Wait(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
