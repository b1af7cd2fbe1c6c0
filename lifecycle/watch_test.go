package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
)

// TestFileWatchNoticesEveryKindOfReplacement: each way an operator or an
// orchestrator changes the file is seen once, and nothing else is.
func TestFileWatchNoticesEveryKindOfReplacement(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	write := func(p, s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		// Explicit times: filesystems with coarse mtimes would otherwise
		// hide a rewrite within the same tick.
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write(path, "a = 1\n", base)
	w := newFileWatch(path)
	w.settle = 0

	steps := []struct {
		name   string
		change func()
		want   string // "" = no change reported
	}{
		{"nothing changed", func() {}, ""},
		{"written in place", func() { write(path, "a = 2\n", base.Add(time.Second)) }, "a = 2\n"},
		{"touched without a change of content", func() { write(path, "a = 2\n", base.Add(2*time.Second)) }, ""},
		{"same size and mtime, new inode (rename over it, as editors do)", func() {
			tmp := filepath.Join(dir, ".config.toml.swp")
			write(tmp, "a = 3\n", base.Add(2*time.Second))
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "a = 3\n"},
		{"missing for a moment (unlink, then create)", func() { os.Remove(path) }, ""},
		{"back with new content", func() { write(path, "a = 4\n", base.Add(3*time.Second)) }, "a = 4\n"},
		{"a symlink re-pointed (Kubernetes ConfigMap volume)", func() {
			data := filepath.Join(dir, "..data1")
			os.Mkdir(data, 0o700)
			write(filepath.Join(data, "config.toml"), "a = 5\n", base.Add(3*time.Second))
			os.Remove(path)
			if err := os.Symlink(filepath.Join(data, "config.toml"), path); err != nil {
				t.Fatal(err)
			}
		}, "a = 5\n"},
		{"a bad file is reported once, not every tick", func() { write(filepath.Join(dir, "..data1", "config.toml"), "a = [\n", base.Add(4*time.Second)) }, "a = [\n"},
		{"and stays quiet afterwards", func() {}, ""},
	}
	for _, s := range steps {
		s.change()
		data, ok := w.changed()
		if got := string(data); ok != (s.want != "") || (ok && got != s.want) {
			t.Fatalf("%s: changed() = %q, %v; want %q", s.name, got, ok, s.want)
		}
	}
}

func TestRestartOnlySettingsAreNamed(t *testing.T) {
	prev := config.Defaults()
	cases := []struct {
		name string
		edit func(c *config.Config)
		want []string
	}{
		{"routes and limits apply live", func(c *config.Config) { c.Server.MaxConcurrent = 5; c.Server.ShutdownGrace = 1 }, nil},
		{"listen address", func(c *config.Config) { c.Server.Listen = "0.0.0.0:8080" }, []string{"server.listen"}},
		{"listener settings, TLS, log and tracing apply live", func(c *config.Config) {
			c.Server.ReadTimeout, c.Server.WriteTimeout, c.Server.IdleTimeout, c.Server.MaxHeaderBytes = 1, 1, 1, 1
			c.Server.TLSCert, c.Server.TLSKey = "a.pem", "a.key"
			c.Log.Format, c.Log.Level = config.LogText, config.LevelDebug
			c.Tracing.Endpoint = "http://127.0.0.1:4318/v1/traces"
			c.Store.RedisTimeout = 1
		}, nil},
		{"admin listener and store", func(c *config.Config) {
			c.Admin.Listen = ""
			c.Store.Backend, c.Store.MemoryBudget = config.BackendRedis, 1
			c.Log.Format = config.LogText
		}, []string{"admin.listen", "store.backend", "store.memory_budget"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := config.Defaults()
			tc.edit(&next)
			got := restartOnly(&prev, &next)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDepWatchNoticesRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(p, s string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write(cert, "cert 1", base)
	write(key, "key 1", base)
	var d depWatch
	paths := []string{cert, key, filepath.Join(dir, "missing.pem")}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"first look records, reports nothing", func() {}, ""},
		{"unchanged", func() {}, ""},
		{"a rotated certificate", func() { write(cert, "cert 2", base.Add(time.Second)); write(key, "key 2", base.Add(time.Second)) }, cert},
		{"the pair is taken together: the key is not reported again", func() {}, ""},
		{"a key replaced by rename", func() {
			write(key+".new", "key 3", base.Add(time.Second))
			if err := os.Rename(key+".new", key); err != nil {
				t.Fatal(err)
			}
		}, key},
	}
	for _, s := range steps {
		s.change()
		if got := d.changed(paths); got != s.want {
			t.Fatalf("%s: changed() = %q, want %q", s.name, got, s.want)
		}
	}
}

func TestDepFilesResolveAgainstTheConfigFolder(t *testing.T) {
	cfg := config.Defaults()
	cfg.Dir = "/etc/cobaltgw"
	cfg.Server.TLSCert, cfg.Server.TLSKey = "tls/server.pem", "/secrets/server.key"
	cfg.Upstreams = []config.Upstream{{TLSCA: "ca.pem"}}
	cfg.Routes = []config.Route{{BodySchema: "schemas/asset.json"}, {}}
	got := depFiles(&cfg)
	want := []string{"/etc/cobaltgw/tls/server.pem", "/secrets/server.key", "/etc/cobaltgw/ca.pem", "/etc/cobaltgw/schemas/asset.json"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
