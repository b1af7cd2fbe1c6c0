// Command cobaltgw is a reverse proxy / API gateway that gives clients one
// error contract. See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/lifecycle"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("cobaltgw "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.toml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch sub {
	case "", "run":
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if err := lifecycle.Run(cfg, newLogger(cfg, stdout)); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "validate":
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return 0
	case "routes":
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		printRoutes(stdout, cfg)
		return 0
	case "version":
		fmt.Fprintln(stdout, "cobaltgw", version)
		return 0
	case "hash-token":
		sum, err := auth.HashToken(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, sum)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q; use run, validate, routes, version or hash-token\n", sub)
	return 2
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
