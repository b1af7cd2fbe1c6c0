package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// commandList is every command `help` must list with a summary.
var commandList = []string{"run", "validate", "routes", "config-schema", "hash-token", "version", "help"}

func TestCLIHelpListsEveryCommand(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		out, code := runCLI(t, "", arg)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", arg, code, out)
		}
		for _, c := range commandList {
			if !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("%s: command %q not listed\n%s", arg, c, out)
			}
		}
	}
	// A subcommand's -h shows its flags.
	out, code := runCLI(t, "", "validate", "-h")
	if code != 0 || !strings.Contains(out, "-config") {
		t.Fatalf("validate -h: exit %d\n%s", code, out)
	}
}

func TestCLIUnknownCommandOrFlagExits2WithTheList(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"--frobnicate"}, {"validate", "-nope"}, {"version", "extra"}} {
		out, code := runCLI(t, "", args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(out, "config-schema") || !strings.Contains(out, "hash-token") {
			t.Errorf("%v: the command list is missing\n%s", args, out)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	a, code := runCLI(t, "", "version")
	b, code2 := runCLI(t, "", "--version")
	if code != 0 || code2 != 0 || a != b || !strings.HasPrefix(a, "cobaltgw ") || strings.Count(a, " ") != 1 {
		t.Fatalf("version %d %q, --version %d %q", code, a, code2, b)
	}
	t.Run("stamped", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "gw")
		build := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7", "-o", bin, "..")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil || string(out) != "cobaltgw 9.8.7\n" {
			t.Fatalf("%v %q", err, out)
		}
	})
	t.Run("from the VCS revision", func(t *testing.T) {
		// The go command finds a repository by a .git directory; a git
		// worktree (a .git file) builds without VCS information.
		if fi, err := os.Stat("../.git"); err != nil || !fi.IsDir() {
			t.Skip("not a git clone (a worktree has no .git directory): nothing to stamp")
		}
		rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err != nil {
			t.Skip("not a git checkout")
		}
		bin := filepath.Join(t.TempDir(), "gw")
		build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "..")
		build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
		if out, err := build.CombinedOutput(); err != nil {
			t.Skipf("cannot build with VCS stamping here: %v\n%s", err, out)
		}

		// Since Go 1.24 a clean checkout stamps the main module with a
		// pseudo-version (v0.0.0-<time>-<revision>); a dirty one records
		// only the revision. Either way the revision is in the version.
		out, err := exec.Command(bin, "version").Output()
		if err != nil || !strings.HasPrefix(string(out), "cobaltgw ") || !strings.Contains(string(out), string(rev[:12])) {
			t.Fatalf("%v %q, want the revision %s", err, out, rev[:12])
		}
	})
}

// TestCLIConfigSchema checks that the schema is JSON Schema, that the
// shipped config.toml and deploy/config.toml satisfy it, and that it
// refuses what the loader refuses (an unknown key, a bad enum value).
func TestCLIConfigSchema(t *testing.T) {
	out, code := runCLI(t, "", "config-schema")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("not a JSON Schema: %v", err)
	}
	asJSON := func(t *testing.T, tomlText string) any {
		var m map[string]any
		if err := toml.Unmarshal([]byte(tomlText), &m); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, f := range []string{"../config.toml", "../deploy/config.toml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(asJSON(t, string(b))); err != nil {
			t.Errorf("%s does not satisfy the schema: %v", f, err)
		}
	}
	for _, bad := range []string{"[server]\nlisen = \"x\"\n", "[log]\nlevel = \"verbose\"\n", "[server]\nread_timeout = \"soon\"\n", "[tracing]\nsample_ratio = \"all\"\n"} {
		if err := sch.Validate(asJSON(t, bad)); err == nil {
			t.Errorf("the schema accepts %q", bad)
		}
	}
}

func TestValidateObservabilityKeys(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, body, want string }{
		{"unknown detail code", "[errors.details]\nupstream_timout = \"x\"\n", `:2:1: errors.details.upstream_timout: "upstream_timout" is not a reason code; did you mean "upstream_timeout"?`},
		{"empty detail", "[errors.details]\nmaintenance = \" \"\n", `errors.details.maintenance: the detail is empty`},
		{"log level", "[log]\nlevel = \"verbose\"\n", `:2:9: log.level: "verbose" is not allowed; write one of "debug", "info", "warn", "error"`},
		{"tracing endpoint", "[tracing]\nendpoint = \"127.0.0.1:4318\"\n", `:2:1: tracing.endpoint: "127.0.0.1:4318" is not an http:// or https:// URL`},
		{"sample ratio", "[tracing]\nsample_ratio = 1.5\n", `:2:1: tracing.sample_ratio: 1.5 is not a share of requests`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".toml")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := runCLI(t, "", "validate", "-config", p)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q does not contain %q", code, out, tc.want)
			}
		})
	}
}
