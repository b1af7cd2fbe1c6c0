// Package cli is the command line of cobaltgw (docs/configuration.md "Commands"): one
// table of commands, each with a one-line summary that `help`, `-h` and
// `--help` list, and its own flags. An unknown command or flag exits 2
// with that list; a command that fails exits 1.
//
// `cobaltgw` alone, or with flags only (`cobaltgw -config F`), is `run`.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
)

// Env is what a command reads and writes.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Command is one entry of the command table.
type Command struct {
	Name    string
	Summary string // one line, shown by help
	// Flags declares the command's flags on fs; nil for none.
	Flags func(fs *flag.FlagSet) func(env Env, args []string) int
}

// commands is the table; help lists it in this order. A new command is
// one entry here.
var commands = []Command{
	{"run", "serve with the config file (the default command): cobaltgw [run] [-config F]", runFlags},
	{"validate", "check a config file and exit non-zero with file:line:col errors: validate -config F", validateFlags},
	{"routes", "print the route table after OpenAPI import (path, methods, upstream, auth, limits, validation, produces, deprecation): routes -config F", routesFlags},
	{"config-schema", "print a JSON Schema of config.toml (for Taplo / Even Better TOML)", schemaFlags},
	{"hash-token", "print the SHA-256 digest of the token read on standard input", hashTokenFlags},
	{"version", "print the version (also --version)", versionFlags},
	{"help", "list the commands (also -h, --help)", nil},
}

// Main runs the command line args (without the program name) and returns
// the exit status.
func Main(args []string, env Env) int {
	name := "run"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "--help" || a == "-help" || a == "help":
			usage(env.Stdout)
			return 0
		case a == "--version" || a == "-version":
			name, args = "version", args[1:]
		case !strings.HasPrefix(a, "-"):
			name, args = a, args[1:]
		}
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(env.Stderr, "cobaltgw: unknown command %q\n\n", name)
		usage(env.Stderr)
		return 2
	}
	if cmd.Flags == nil {
		usage(env.Stdout)
		return 0
	}
	fs := flag.NewFlagSet("cobaltgw "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	body := cmd.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(env.Stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(env.Stderr, "cobaltgw %s: %v\n\n", cmd.Name, err)
		commandUsage(env.Stderr, cmd, fs)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "cobaltgw %s: unexpected argument %q\n\n", cmd.Name, fs.Arg(0))
		commandUsage(env.Stderr, cmd, fs)
		return 2
	}
	return body(env, fs.Args())
}

func lookup(name string) *Command {
	for i := range commands {
		if commands[i].Name == name {
			return &commands[i]
		}
	}
	return nil
}

// usage lists every command with its summary.
func usage(w io.Writer) {
	fmt.Fprintf(w, "cobaltgw %s: an API gateway with one error contract\n\nUsage: cobaltgw <command> [flags]\n\nCommands:\n", buildinfo.Version())
	width := 0
	for _, c := range commands {
		width = max(width, len(c.Name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintln(w, "\n`cobaltgw <command> -h` lists the flags of a command. See README.md.")
}

// commandUsage shows one command's flags, then the list of commands.
func commandUsage(w io.Writer, c *Command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "cobaltgw %s: %s\n", c.Name, c.Summary)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintln(w)
	usage(w)
}
