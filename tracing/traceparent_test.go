package tracing

import (
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cases := []struct {
		name, v string
		valid   bool
	}{
		{"spec example", ok, true},
		{"unsampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"upper case hex", strings.ToUpper(ok), false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"version ff", "ff" + ok[2:], false},
		{"version 00 with more", ok + "-x", false},
		{"later version with more", "01" + ok[2:] + "-what-ever", true},
		{"later version glued", "01" + ok[2:] + "x", false},
		{"short", ok[:54], false},
		{"bad separator", strings.Replace(ok, "-", "_", 1), false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		p, valid := ParseTraceparent([]byte(tc.v))
		if valid != tc.valid {
			t.Errorf("%s: valid = %v", tc.name, valid)
		}
		if valid && string(AppendTraceID(nil, p.TraceID)) != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("%s: trace id %x", tc.name, p.TraceID)
		}
	}
	p, _ := ParseTraceparent([]byte(ok))
	if got := string(AppendTraceparent(nil, p.TraceID, p.SpanID, p.Flags)); got != ok {
		t.Fatalf("round trip %q", got)
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := ParseTraceparent([]byte(v))
		if !ok {
			return
		}
		back := string(AppendTraceparent(nil, p.TraceID, p.SpanID, p.Flags))
		if q, ok := ParseTraceparent([]byte(back)); !ok || q.TraceID != p.TraceID || q.SpanID != p.SpanID {
			t.Fatalf("%q → %q does not parse back", v, back)
		}
	})
}

func BenchmarkContinue(b *testing.B) {
	v := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	var out [TraceparentLen]byte
	b.ReportAllocs()
	for b.Loop() {
		p, _ := ParseTraceparent(v)
		_ = AppendTraceparent(out[:0], p.TraceID, NewSpanID(), p.Flags)
	}
}
