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
