package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the binary with args and stdin; it returns the combined
// output and the exit code.
func runCLI(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("shipped config is valid", func(t *testing.T) {
		out, code := runCLI(t, "", "validate", "-config", "../config.toml")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", `:3:1: unknown key "lisen" in [server]; did you mean "listen"?`},
		{"wrong type", "[server]\nmax_concurrent = \"many\"\n", ":2:"},
		{"bad duration", "[server]\nread_timeout = \"soon\"\n", `:2:16: server.read_timeout: "soon" is not a duration`},
		{"unknown upstream", "[[routes]]\npath = \"/a\"\nmethods = [\"GET\"]\nupstream = \"nope\"\n", `:4:1: routes[0].upstream: "nope" is not the name of any [[upstreams]]`},
		{"unknown policy", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\n[[routes]]\npath = \"/a\"\nmethods = [\"GET\"]\nupstream = \"api\"\nrate_limits = [\"nope\"]\n", `:8:1: routes[0].rate_limits: "nope" is not a [rate_limits.*] policy`},
		{"map to a status outside the set", "[errors.map]\n502 = 504\n", `:2:1: errors.map.502: 504 is outside the contract`},
		{"burst 0", "[rate_limits.a]\nkey = \"ip\"\nrate = 1\nburst = 0\n", `:4:1: rate_limits.a.burst: rate limit "a": burst = 0: write a bucket size of at least 1`},
		{"negative ttl", "[idempotency]\nttl = \"-1h\"\n", `idempotency.ttl: must be a positive duration`},
		{"syntax error", "[server\n", ":1:"},
		{"bad target", "[[upstreams]]\nname = \"api\"\ntargets = [\"ftp://x\"]\n", `:3:1: upstreams[0].targets: target "ftp://x" is not an http:// or https:// URL`},
		{"lock_timeout not above upstream timeout", "[idempotency]\nlock_timeout = \"10s\"\n[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\ntimeout = \"30s\"\n[[routes]]\npath = \"/a\"\nmethods = [\"POST\"]\nupstream = \"api\"\n", `lock_timeout: 10s must be longer than the timeout of upstream "api"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_")+".toml", tc.body)
			out, code := runCLI(t, "", "validate", "-config", p)
			if code == 0 {
				t.Fatalf("exit 0 for a bad file; output %s", out)
			}
			if !strings.Contains(out, p) || !strings.Contains(out, tc.want) {
				t.Fatalf("output %q does not contain %q", out, tc.want)
			}
			if !regexp.MustCompile(`\.toml:\d+:\d+: `).MatchString(out) {
				t.Fatalf("no file:line:col in %q", out)
			}
		})
	}
	t.Run("environment references are expanded", func(t *testing.T) {
		p := write("env.toml", "[server]\nlisten = \"${GW_TEST_LISTEN}\"\n")
		cmd := exec.Command(binary, "validate", "-config", p)
		cmd.Env = append(os.Environ(), "GW_TEST_LISTEN=not-an-address")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), `"not-an-address" is not host:port`) {
			t.Fatalf("output %s", out)
		}
	})
}

func TestHashTokenAndVersion(t *testing.T) {
	out, code := runCLI(t, "s3cret\n", "hash-token")
	if code != 0 || strings.TrimSpace(out) != digest("s3cret") {
		t.Fatalf("hash-token: exit %d %q, want %s", code, out, digest("s3cret"))
	}
	out, code = runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "cobaltgw ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
	if _, code := runCLI(t, "", "frobnicate"); code == 0 {
		t.Fatal("unknown command exited 0")
	}
}
