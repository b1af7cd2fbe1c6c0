package cli

import (
	"flag"
	"fmt"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
	"github.com/cobaltgw/cobaltgw/lifecycle"
)

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "config.toml", "the config file")
}

func runFlags(fs *flag.FlagSet) func(Env, []string) int {
	path := configFlag(fs)
	return func(env Env, _ []string) int {
		cfg, err := config.ReadFile(*path)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			return 1
		}
		if err := lifecycle.Run(cfg, lifecycle.NewLogger(cfg, env.Stdout)); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return 1
		}
		return 0
	}
}

func validateFlags(fs *flag.FlagSet) func(Env, []string) int {
	path := configFlag(fs)
	return func(env Env, _ []string) int {
		c, err := compileFile(*path)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			return 1
		}
		c.Close()
		for _, w := range c.Warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
		fmt.Fprintf(env.Stdout, "%s: ok\n", *path)
		return 0
	}
}

func hashTokenFlags(*flag.FlagSet) func(Env, []string) int {
	return func(env Env, _ []string) int {
		sum, err := auth.HashToken(env.Stdin)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			return 1
		}
		fmt.Fprintln(env.Stdout, sum)
		return 0
	}
}

func versionFlags(*flag.FlagSet) func(Env, []string) int {
	return func(env Env, _ []string) int {
		fmt.Fprintf(env.Stdout, "cobaltgw %s\n", buildinfo.Version())
		return 0
	}
}

func schemaFlags(*flag.FlagSet) func(Env, []string) int {
	return func(env Env, _ []string) int {
		b, err := ConfigSchema()
		if err != nil {
			fmt.Fprintln(env.Stderr, "config-schema:", err)
			return 1
		}
		_, _ = env.Stdout.Write(append(b, '\n'))
		return 0
	}
}
