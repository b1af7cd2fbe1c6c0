package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each case is a file with one mistake and the one message it must give:
// the place, the entry with its index, TOML words and what to write.
func TestWrongTypesSpeakTOML(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"integer duration refused", "[server]\nread_timeout = 10\n",
			`c.toml:2:16: server.read_timeout: durations are strings with a unit, not the integer 10; write "10s"`},
		{"float duration refused", "[server]\nidle_timeout = 1.5\n",
			`c.toml:2:16: server.idle_timeout: durations are strings with a unit, not the float 1.5; write "1.5s"`},
		{"duration string without unit", "[server]\nwrite_timeout = \"30\"\n",
			`server.write_timeout: "30" is not a duration (a unit is required: write "30s")`},
		{"integer duration in an array entry", minimal + "[[upstreams]]\nname = \"b\"\ntargets = [\"http://127.0.0.1:1\"]\ntimeout = 5\n",
			`c.toml:13:11: upstreams[1].timeout: durations are strings with a unit, not the integer 5; write "5s"`},
		{"string where an array of strings goes", "[[routes]]\npath = \"/a\"\nmethods = \"GET\"\ngone = true\n",
			`c.toml:3:11: routes[0].methods: must be an array of strings, not the string "GET"; write methods = ["GET"]`},
		{"integer in an array of strings", "[[routes]]\npath = \"/a\"\nmethods = [\"GET\", 7]\ngone = true\n",
			`routes[0].methods[1]: must be a string, not the integer 7`},
		{"quoted integer", minimal + "retries = \"2\"\n",
			`unknown key "retries" in routes[0]`},
		{"quoted integer in an upstream", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\nretries = \"2\"\n",
			`c.toml:4:11: upstreams[0].retries: must be an integer, not the string "2"; write retries = 2`},
		{"table where a string goes", "[admin]\nlisten = { a = 1 }\n",
			`admin.listen: must be a string, not a table`},
		{"boolean as string", "[server]\nmaintenance = \"true\"\n",
			`server.maintenance: must be a boolean (true or false), not the string "true"; write maintenance = true`},
		{"enum typo", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\nbalance = \"least_con\"\n",
			`c.toml:4:11: upstreams[0].balance: "least_con" is not allowed; write one of "round_robin", "least_conn" (did you mean "least_conn"?)`},
		{"enum wrong type", "[log]\nformat = 1\n",
			`log.format: must be a string, one of "json", "text", not the integer 1`},
		{"size wrong type", "[server]\nmax_body_bytes = true\n",
			`server.max_body_bytes: must be a size such as "16KiB" or a byte count, not the boolean true`},
		{"negative size", "[server]\nmax_body_bytes = -1\n",
			`server.max_body_bytes: -1 is negative`},
		{"array of tables wrong type", "upstreams = \"api\"\n",
			`c.toml:1:13: upstreams: must be an array of tables, not the string "api"`},
		{"unknown key in a table", "[server]\nlisen = \"127.0.0.1:1\"\n",
			`c.toml:2:1: unknown key "lisen" in [server]; did you mean "listen"?`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "c.toml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			for _, goName := range []string{"[]string", "config.", "struct", "int64", "float64", "time.Duration"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("message speaks Go (%q): %v", goName, err)
				}
			}
		})
	}
}

// A wrong type is reported once: not again as "required" or as a
// follow-on error from the validator.
func TestWrongTypeNotReportedTwice(t *testing.T) {
	_, err := Parse([]byte("[[routes]]\npath = 1\nmethods = \"GET\"\nupstream = 2\n"), "c.toml")
	var l *ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%T %v", err, err)
	}
	if len(l.Errs) != 3 {
		t.Fatalf("want 3 errors (path, methods, upstream), got %d:\n%v", len(l.Errs), err)
	}
}

// One run reports every error, in file order, each with its place.
func TestEveryErrorAtOnce(t *testing.T) {
	doc := `[server]
read_timeout = 10
listen = "nowhere"

[store]
backend = "etcd"

[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]
timeout = 5

[[routes]]
path = "/v1/assets"
methods = "GET"
upstream = "apj"
`
	_, err := Parse([]byte(doc), "c.toml")
	var l *ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%T %v", err, err)
	}
	want := []string{
		"c.toml:2:16: server.read_timeout:",
		"c.toml:3:1: server.listen:",
		"c.toml:6:11: store.backend:",
		"c.toml:11:11: upstreams[0].timeout:",
		"c.toml:15:11: routes[0].methods:",
		"c.toml:16:1: routes[0].upstream:",
	}
	if len(l.Errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l.Errs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(l.Errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, l.Errs[i], w)
		}
	}
}

func TestAtMostMaxErrors(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "[[upstreams]]\nname = \"u%d\"\ntargets = [\"http://127.0.0.1:9\"]\ntimeout = %d\n", i, i+1)
	}
	_, err := Parse([]byte(b.String()), "c.toml")
	var l *ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%T %v", err, err)
	}
	if len(l.Errs) != MaxErrors || l.Omitted != 30-MaxErrors {
		t.Fatalf("%d errors, %d omitted", len(l.Errs), l.Omitted)
	}
	if !strings.HasPrefix(l.Errs[0].Msg, "upstreams[0].timeout") || !strings.HasPrefix(l.Errs[19].Msg, "upstreams[19].timeout") {
		t.Fatalf("not in file order:\n%v", err)
	}
	if !strings.HasSuffix(err.Error(), "(and 10 more errors; fix these first)") {
		t.Fatalf("omitted errors not counted: %v", err)
	}
}

func TestEnvReferences(t *testing.T) {
	env := map[string]string{"ADDR": "127.0.0.1:7000", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		in, want, err string
	}{
		{"${ADDR}", "127.0.0.1:7000", ""},
		{"${NOPE:-127.0.0.1:1}", "127.0.0.1:1", ""},
		{"${EMPTY:-x}", "x", ""},
		{"${EMPTY}", "", ""},
		{"${NOPE:-}", "", ""},
		{"p$ss", "p$ss", ""},
		{"$NOPE", "$NOPE", ""},
		{"$${NOPE}", "${NOPE}", ""},
		{"a${1BAD}b", "a${1BAD}b", ""},
		{"${NOPE}", "", "${NOPE} is not set in the environment; set it, or write ${NOPE:-default}"},
	}
	for _, tc := range cases {
		got, err := expandEnv(tc.in, lookup)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// In the file: an unset name is an error at the key's place.
	_, err := parse([]byte("[store]\nredis_password = \"${REDIS_PASS_UNSET}\"\n"), "c.toml", lookup)
	if err == nil || !strings.Contains(err.Error(), "c.toml:2:18: store.redis_password: ${REDIS_PASS_UNSET} is not set") {
		t.Fatalf("unset variable: %v", err)
	}
	// Enums and durations expand too.
	c, err := parse([]byte("[server]\nread_timeout = \"${RT:-3s}\"\n[log]\nformat = \"${LF:-text}\"\n"), "c.toml", lookup)
	if err != nil || c.Server.ReadTimeout.D().String() != "3s" || c.Log.Format != LogText {
		t.Fatalf("%v %+v", err, c)
	}
	// The default redis_password is optional: REDIS_PASSWORD unset is "".
	c, err = parse([]byte(""), "c.toml", lookup)
	if err != nil || c.Store.RedisPassword != "" {
		t.Fatalf("%v %q", err, c.Store.RedisPassword)
	}
	env["REDIS_PASSWORD"] = "s3cret"
	c, _ = parse([]byte(""), "c.toml", lookup)
	if c.Store.RedisPassword != "s3cret" {
		t.Fatalf("default ${REDIS_PASSWORD} not expanded: %q", c.Store.RedisPassword)
	}
}

func TestWarnsWithoutRoutes(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "[server]\nlisten = \"127.0.0.1:8080\"\n"} {
		c, err := Parse([]byte(doc), "c.toml")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "404") {
			t.Errorf("%q: warnings %q", doc, c.Warnings)
		}
	}
	c, err := Parse([]byte(minimal), "c.toml")
	if err != nil || len(c.Warnings) != 0 {
		t.Fatalf("%v %q", err, c.Warnings)
	}
}

func TestAtNamesPlaces(t *testing.T) {
	c, err := Parse([]byte(minimal), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if l, col := c.At("routes[0].upstream"); l != 9 || col != 1 {
		t.Fatalf("At = %d:%d", l, col)
	}
	if e := c.Errorf("upstreams[0].timeout", "too short"); e.Error() != "c.toml:2:3: upstreams[0].timeout: too short" {
		t.Fatalf("%q", e)
	}
}
