package deploy_test

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/cobaltgw/cobaltgw/config"
)

const (
	binaryPath = "/usr/local/bin/cobaltgw"
	configPath = "/etc/cobaltgw/config.toml"
)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestComposeFile(t *testing.T) {
	docs := decodeAll(t, "compose/compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services := docs[0].m("services")
	cfgData := read(t, "compose/config.toml")
	mustParse(t, "compose/config.toml", cfgData)
	cfg := carried(t, "compose/config.toml", cfgData)
	httpPort, adminPort := port(t, "listen", cfg.Server.Listen), port(t, "admin", cfg.Admin.Listen)

	replicas := 0
	for name, raw := range services {
		svc := obj(raw.(map[string]any))
		if !strings.HasPrefix(name, "gateway") {
			continue
		}
		replicas++
		if df := svc.m("build").s("dockerfile"); df != "deploy/Dockerfile" {
			t.Fatalf("%s: builds %q, want deploy/Dockerfile", name, df)
		}
		if cmd := strings.Join(svc.strings("command"), " "); cmd != "run -config "+configPath {
			t.Fatalf("%s: command %q", name, cmd)
		}
		if vols := svc.strings("volumes"); len(vols) != 1 || vols[0] != "./config.toml:"+configPath+":ro" {
			t.Fatalf("%s: volumes %v, want ./config.toml mounted read-only at %s", name, vols, configPath)
		}
		published := map[int]bool{}
		for _, p := range svc.strings("ports") {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Fatalf("%s: port %q must be published on 127.0.0.1 only", name, p)
			}
			n, _ := strconv.Atoi(parts[2])
			published[n] = true
		}
		if !published[httpPort] || !published[adminPort] || len(published) != 2 {
			t.Fatalf("%s publishes %v, the config listens on %d and %d", name, svc.strings("ports"), httpPort, adminPort)
		}
		stop, err := time.ParseDuration(svc.s("stop_grace_period"))
		if err != nil || stop <= cfg.Server.ShutdownGrace.D() {
			t.Fatalf("%s: stop_grace_period %q must exceed shutdown_grace %s", name, svc.s("stop_grace_period"), cfg.Server.ShutdownGrace.D())
		}
		if svc["read_only"] != true {
			t.Fatalf("%s: read_only is not true", name)
		}
		if dep := svc.m("depends_on").m("redis").s("condition"); dep != "service_healthy" {
			t.Fatalf("%s: does not wait for a healthy redis", name)
		}
	}
	if replicas != 2 {
		t.Fatalf("%d gateway replicas, want 2", replicas)
	}
	if services["redis"] == nil {
		t.Fatal("no redis service")
	}
	var store struct {
		Store struct {
			Backend    string   `toml:"backend"`
			RedisAddrs []string `toml:"redis_addrs"`
		} `toml:"store"`
	}
	if err := toml.Unmarshal(cfgData, &store); err != nil {
		t.Fatal(err)
	}
	if store.Store.Backend != "redis" || len(store.Store.RedisAddrs) != 1 || store.Store.RedisAddrs[0] != "redis:6379" {
		t.Fatalf("the replicas do not share the compose redis: %+v", store.Store)
	}
	for _, u := range cfg.Upstreams {
		for _, tg := range u.Targets {
			h := host(strings.TrimPrefix(tg, "http://"))
			if services[h] == nil {
				t.Fatalf("upstream target %s names no compose service", tg)
			}
		}
	}
}

// unit reads a systemd unit: key → values, in order.
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		kv[k] = append(kv[k], v)
	}
	return kv
}

func TestSystemdUnit(t *testing.T) {
	u := unit(t, "systemd/cobaltgw.service")
	want := map[string]string{
		"ExecStart":               binaryPath + " run -config " + configPath,
		"ExecStartPre":            binaryPath + " validate -config " + configPath,
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"DynamicUser":             "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallArchitectures": "native",
		"SystemCallErrorNumber":   "EPERM",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// The drain must finish before systemd kills: TimeoutStopSec beyond the
	// shutdown_grace of the config it runs (the shipped one).
	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	stop, _ := strconv.Atoi(strings.TrimSuffix(u["TimeoutStopSec"][0], "s"))
	if time.Duration(stop)*time.Second <= cfg.Server.ShutdownGrace.D() {
		t.Fatalf("TimeoutStopSec %ds must exceed shutdown_grace %s", stop, cfg.Server.ShutdownGrace.D())
	}
}

func TestDockerfile(t *testing.T) {
	text := string(read(t, "Dockerfile"))
	stages := regexp.MustCompile(`(?m)^FROM `).Split(text, -1)[1:]
	if len(stages) < 2 {
		t.Fatal("want a multi-stage build")
	}
	if !strings.Contains(stages[0], "./deploy/build.sh") {
		t.Fatal("the build stage does not use deploy/build.sh, the script CI runs")
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && !strings.HasPrefix(final, "scratch") {
		t.Fatalf("final stage is %q, want distroless/static or scratch", strings.SplitN(final, "\n", 2)[0])
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(final)
	if user == nil || user[1] == "root" || strings.HasPrefix(user[1], "0") {
		t.Fatalf("final stage USER = %v, want a non-root user", user)
	}
	for _, s := range []string{"COPY --from=build /out/cobaltgw " + binaryPath, `ENTRYPOINT ["` + binaryPath + `"]`,
		`CMD ["run", "-config", "` + configPath + `"]`, "COPY deploy/config.toml " + configPath} {
		if !strings.Contains(final, s) {
			t.Fatalf("final stage lacks %q", s)
		}
	}
	data := read(t, "config.toml")
	mustParse(t, "deploy/config.toml", data)
	cfg := carried(t, "deploy/config.toml", data)
	expose := regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(final)
	if expose == nil {
		t.Fatal("no EXPOSE")
	}
	for _, addr := range []string{cfg.Server.Listen, cfg.Admin.Listen} {
		if !strings.Contains(" "+expose[1]+" ", " "+strconv.Itoa(port(t, "listen", addr))+" ") {
			t.Fatalf("EXPOSE %s lacks the port of %s", expose[1], addr)
		}
	}
}

// TestBuildScriptMakesAStaticBinary builds the binary the way the
// Dockerfile does and checks that it is static (no interpreter, no shared
// libraries: it runs on distroless/static or scratch) and carries the
// version.
func TestBuildScriptMakesAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	out := filepath.Join(t.TempDir(), "cobaltgw")
	cmd := exec.Command("./build.sh")
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION=9.9.9-test")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has a dynamic loader: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs %v", libs)
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(v)) != "cobaltgw 9.9.9-test" {
		t.Fatalf("version: %q %v", v, err)
	}
}
