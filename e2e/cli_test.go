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
		{"integer duration", "[server]\nread_timeout = 10\n", `:2:16: server.read_timeout: durations are strings with a unit, not the integer 10; write "10s"`},
		{"integer upstream timeout names the entry", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\ntimeout = 5\n", `:4:11: upstreams[0].timeout: durations are strings with a unit, not the integer 5; write "5s"`},
		{"methods as a string", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\n[[routes]]\npath = \"/a\"\nmethods = \"GET\"\nupstream = \"api\"\n", `:6:11: routes[0].methods: must be an array of strings, not the string "GET"; write methods = ["GET"]`},
		{"unset environment variable", "[store]\nredis_password = \"${COBALTGW_E2E_SURELY_UNSET}\"\n", `store.redis_password: ${COBALTGW_E2E_SURELY_UNSET} is not set in the environment`},
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
	t.Run("every error at once, in file order", func(t *testing.T) {
		p := write("many.toml", "[server]\nread_timeout = 10\nlisten = \"nowhere\"\n[store]\nbackend = \"etcd\"\n[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\ntimeout = 5\n[[routes]]\npath = \"/a\"\nmethods = \"GET\"\nupstream = \"apj\"\n")
		out, code := runCLI(t, "", "validate", "-config", p)
		if code == 0 {
			t.Fatalf("exit 0: %s", out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{":2:16: server.read_timeout", ":3:1: server.listen", ":5:11: store.backend", ":9:11: upstreams[0].timeout", ":12:11: routes[0].methods", ":13:1: routes[0].upstream"}
		if len(lines) != len(want) {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
		}
		for i, w := range want {
			if !strings.Contains(lines[i], p+w) {
				t.Errorf("line %d = %q, want %q", i, lines[i], w)
			}
		}
	})
	t.Run("config errors and every part's build errors at once, in file order, as the start reports them", func(t *testing.T) {
		write("bad-schema.json", `{"type": "object", "properties": {`)
		write("not-a-ca.pem", "not a certificate\n")
		p := write("parts.toml", `[server]
read_timeout = 10

[rate_limits.per_ip]
key = "ip"
rate = 5
burst = 0

[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9"]
tls_ca = "not-a-ca.pem"

[[routes]]
path = "/a"
methods = ["POST"]
upstream = "api"
rate_limits = ["per_ip"]
body_schema = "bad-schema.json"
`)
		want := []string{
			":2:16: server.read_timeout: durations are strings with a unit, not the integer 10; write \"10s\"",
			":7:1: rate_limits.per_ip.burst: rate limit \"per_ip\": burst = 0",
			":12:1: upstreams[0].tls_ca:",
			":19:1: routes[0].body_schema:",
		}
		for _, cmd := range []string{"validate", "run"} {
			out, code := runCLI(t, "", cmd, "-config", p)
			if code == 0 {
				t.Fatalf("%s: exit 0: %s", cmd, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(want) {
				t.Fatalf("%s: %d lines, want %d:\n%s", cmd, len(lines), len(want), out)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], p+w) {
					t.Errorf("%s: line %d = %q, want prefix %q", cmd, i, lines[i], p+w)
				}
			}
		}
	})
	t.Run("a config without routes warns", func(t *testing.T) {
		for _, body := range []string{"", "[server]\nlisten = \"127.0.0.1:8080\"\n"} {
			p := write("noroutes.toml", body)
			out, code := runCLI(t, "", "validate", "-config", p)
			if code != 0 || !strings.Contains(out, "warning: ") || !strings.Contains(out, "404") || !strings.Contains(out, ": ok") {
				t.Fatalf("exit %d: %s", code, out)
			}
		}
	})
	t.Run("a default for an unset variable", func(t *testing.T) {
		p := write("envdefault.toml", "[server]\nlisten = \"${COBALTGW_E2E_SURELY_UNSET:-127.0.0.1:8081}\"\n")
		if out, code := runCLI(t, "", "validate", "-config", p); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
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
