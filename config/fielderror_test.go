package config

import (
	"errors"
	"strings"
	"testing"
)

// Report places build errors at their keys, flattens joined ones, merges
// config's own errors in file order, and drops a build error about an
// entry config already refused.
func TestReportPlacesBuildErrors(t *testing.T) {
	doc := `[server]
read_timeout = 10

[rate_limits.a]
key = "ip"
burst = 1

[rate_limits.b]
key = "ip"
rate = 1
burst = 0
`
	c, err := Decode([]byte(doc), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Problems() {
		t.Fatal("no problems kept")
	}
	err = c.Report(
		errors.Join(
			FieldErrorf("rate_limits.b.burst", "burst = 0"),
			FieldErrorf("rate_limits.a.rate", "rate = 0"), // config said rate is required
		),
		Field("rate_limits.b", errors.Join(errors.New("one"), errors.New("two"))),
		&Error{"doc.yaml", 3, 4, "openapi[0].file: at the document's own place"},
		errors.New("no place"),
	)
	var l *ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%T %v", err, err)
	}
	want := []string{
		"c.toml:1:1: no place",
		"c.toml:2:16: server.read_timeout:",
		"doc.yaml:3:4: openapi[0].file:",
		"c.toml:4:2: rate_limits.a: rate is required",
		"c.toml:8:2: rate_limits.b: one",
		"c.toml:8:2: rate_limits.b: two",
		"c.toml:11:1: rate_limits.b.burst: burst = 0",
	}
	if len(l.Errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l.Errs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(l.Errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, l.Errs[i], w)
		}
	}
	if c.Report() == nil {
		t.Fatal("config's own errors dropped without build errors")
	}
	ok, _ := Decode([]byte(""), "c.toml")
	if err := ok.Report(nil, Field("x", nil)); err != nil {
		t.Fatalf("no errors: %v", err)
	}
}
