// Command cobaltgw is a reverse proxy / API gateway that gives clients one
// error contract. See README.md; the commands are in package cli.
package main

import (
	"os"

	"github.com/cobaltgw/cobaltgw/cli"
	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it the version comes from the build's module and VCS information.
var version string

func main() {
	buildinfo.Stamped = version
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
