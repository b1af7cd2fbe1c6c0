package httpsyntax

import "testing"

func TestIsToken(t *testing.T) {
	cases := map[string]bool{
		"GET": true, "X-Api-Key": true, "application": true, "a!#$%&'*+-.^_`|~9": true,
		"": false, "a b": false, "a/b": false, "a:b": false, `a"b`: false, "a\x00": false, "é": false,
	}
	for in, want := range cases {
		if IsToken(in) != want || IsToken([]byte(in)) != want {
			t.Errorf("IsToken(%q) = %v, want %v", in, !want, want)
		}
	}
}

func TestTrimOWSAndEqualFold(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t a b\t ": "a b", "x": "x", "\t": ""} {
		if got := string(TrimOWS([]byte(in))); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", in, got, want)
		}
	}
	cases := []struct {
		b, s string
		eq   bool
	}{
		{"Content-Type", "content-type", true},
		{"APPLICATION/JSON", "application/json", true},
		{"abc", "abd", false},
		{"ab", "abc", false},
		{"\u212a", "k", false}, // Kelvin sign: no Unicode folding
	}
	for _, c := range cases {
		if got := EqualFoldASCII([]byte(c.b), c.s); got != c.eq {
			t.Errorf("EqualFoldASCII(%q, %q) = %v", c.b, c.s, got)
		}
	}
}
