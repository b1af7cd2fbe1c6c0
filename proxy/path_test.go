package proxy

import (
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	cases := []struct {
		name, in, want string
		err            error
	}{
		{"root", "/", "/", nil},
		{"plain", "/v1/assets", "/v1/assets", nil},
		{"trailing slash kept", "/v1/assets/", "/v1/assets/", nil},
		{"duplicate slashes collapse", "//v1///assets//x", "/v1/assets/x", nil},
		{"dot segment removed", "/v1/./assets", "/v1/assets", nil},
		{"dotdot removes previous", "/v1/admin/../assets", "/v1/assets", nil},
		{"dotdot at end", "/v1/assets/..", "/v1/", nil},
		{"dot at end", "/v1/assets/.", "/v1/assets/", nil},
		{"dotdot never above root", "/../../etc/passwd", "/etc/passwd", nil},
		{"encoded dot segments removed", "/v1/%2e%2E/admin", "/admin", nil},
		{"unreserved decoded", "/v1/%61ssets%7E", "/v1/assets~", nil},
		{"reserved kept upper hex", "/v1/a%3fb%20c", "/v1/a%3Fb%20c", nil},
		{"dots inside names kept", "/v1/a..b/.c", "/v1/a..b/.c", nil},
		{"sub-delims kept", "/v1/a;b=c,d@e:f", "/v1/a;b=c,d@e:f", nil},
		{"encoded slash refused", "/v1/a%2Fb", "", errEncodedPath},
		{"encoded slash lower refused", "/v1/a%2fb", "", errEncodedPath},
		{"encoded backslash refused", "/v1/a%5cb", "", errEncodedPath},
		{"encoded NUL refused", "/v1/a%00", "", errEncodedPath},
		{"raw backslash refused", "/v1\\admin", "", errBadPath},
		{"truncated escape refused", "/v1/a%2", "", errBadPath},
		{"bad hex refused", "/v1/a%zz", "", errBadPath},
		{"space refused", "/v1/a b", "", errBadPath},
		{"non-ascii refused", "/v1/\xc3\xa9", "", errBadPath},
		{"control refused", "/v1/\x01", "", errBadPath},
		{"relative refused", "v1/assets", "", errBadPath},
		{"empty refused", "", "", errBadPath},
		{"dotdot with a parameter refused", "/public/..;/private", "", errDotParam},
		{"dot with a parameter refused", "/public/.;x/private", "", errDotParam},
		{"encoded dotdot with a parameter refused", "/public/%2e%2E;/private", "", errDotParam},
		{"dotdot parameter at the end refused", "/public/..;", "", errDotParam},
		{"parameter after a name kept", "/v1/a..;b/c.;d", "/v1/a..;b/c.;d", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizePath(nil, []byte(tc.in))
			if err != tc.err {
				t.Fatalf("normalizePath(%q) err = %v, want %v", tc.in, err, tc.err)
			}
			if err == nil && string(got) != tc.want {
				t.Fatalf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzNormalizePath checks the invariants of the normal form: it starts
// with "/", has no "//", no dot segment, nothing that decodes to a
// separator, and normalizing it again changes nothing.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/v1/assets", "//a/../b/./c", "/%2e%2e/x", "/a%2Fb", "/a%zz", "/v1/a%3fb", "/..%2f..", "/\\x", "/public/..;/private", "/a/.;/b", "/%2e%2e;x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := normalizePath(nil, []byte(in))
		if err != nil {
			return
		}
		s := string(got)
		if s == "" || s[0] != '/' {
			t.Fatalf("%q -> %q: must start with /", in, s)
		}
		for i := 0; i+1 < len(s); i++ {
			if s[i] == '/' && s[i+1] == '/' {
				t.Fatalf("%q -> %q: contains //", in, s)
			}
		}
		again, err := normalizePath(nil, got)
		if err != nil || string(again) != s {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, s, again, err)
		}
		for _, seg := range splitSegments(s) {
			if seg == "." || seg == ".." {
				t.Fatalf("%q -> %q: dot segment left", in, s)
			}
			// A server that drops path parameters must not find one either.
			if p, _, ok := strings.Cut(seg, ";"); ok && (p == "." || p == "..") {
				t.Fatalf("%q -> %q: dot segment with a parameter left", in, s)
			}
		}
	})
}

func splitSegments(s string) []string {
	var out []string
	start := 1
	for i := 1; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
