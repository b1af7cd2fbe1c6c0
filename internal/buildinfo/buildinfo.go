// Package buildinfo names the running build: the version stamped in at
// link time (-ldflags "-X main.version=…", see deploy/build.sh) or, for a
// plain `go build` / `go install`, the module version or VCS revision the
// Go toolchain records in the binary (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Stamped is the version main was linked with; main sets it at start.
var Stamped string

// Version is the build's version: Stamped when set; else the main
// module's version when built from a tagged module (go install …@v1.2.3)
// or from a clean git checkout (Go 1.24+ records a pseudo-version
// v0.0.0-<time>-<revision>);
// else the VCS revision (12 hex digits, "-dirty" when the work tree had
// changes); else "dev".
func Version() string {
	if Stamped != "" {
		return Stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }
