// Package lifecycle runs the gateway process: it opens the listeners,
// reloads the configuration on SIGHUP (validate first, keep the old one on
// error), and drains on SIGTERM or SIGINT: stop accepting, let requests in
// flight finish within shutdown_grace, close keep-alive connections, exit.
// A second signal during the drain exits at once.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/proxy"
)

// Run serves cfg until a terminating signal, then drains. It returns nil
// after a clean drain.
func Run(cfg *config.Config, log *slog.Logger) error {
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	gw, err := proxy.New(cfg, log)
	if err != nil {
		return fmt.Errorf("building gateway: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Server.Listen, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "config", cfg.Path)

	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.Serve(ln) }()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serving: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(gw, cfg.Path, log)
				continue
			}
			return drain(gw, sig, sigs, log)
		}
	}
}

func reload(gw *proxy.Gateway, path string, log *slog.Logger) {
	next, err := config.Load(path)
	if err == nil {
		err = gw.Reload(next)
	}
	if err != nil {
		log.Error("reload refused; the running config keeps serving", "error", err.Error())
		return
	}
	for _, w := range next.Warnings {
		log.Warn("config", "warning", w)
	}
	log.Info("config reloaded", "config", path)
}

func drain(gw *proxy.Gateway, sig os.Signal, sigs <-chan os.Signal, log *slog.Logger) error {
	grace := gw.Config().Server.ShutdownGrace.D()
	log.Info("draining", "signal", sig.String(), "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err != nil {
			log.Warn("drain grace expired with requests in flight", "inflight", gw.Inflight())
		}
		log.Info("stopped")
		return nil
	case s := <-sigs:
		log.Warn("second signal: exiting now", "signal", s.String())
		return fmt.Errorf("interrupted during drain by %s", s)
	}
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
