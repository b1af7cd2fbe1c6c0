package schema

import (
	"mime"
	"strings"
	"testing"
)

func TestIsJSONContentType(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"application/json", true},
		{"APPLICATION/JSON", true},
		{"Application/Json; charset=utf-8", true},
		{"application/json;charset=UTF-8", true},
		{"  application/json  ", true},
		{"application/json ; q=1", true},
		{"application/problem+json", true},
		{"application/merge-patch+json", true},
		{"application/vnd.api+JSON; ext=x", true},
		{"", false},
		{"text/json", false},
		{"text/plain", false},
		{"application/xml", false},
		{"application/jsonx", false},
		{"application/json-seq", false},
		{"application/x-www-form-urlencoded", false},
		{"application/+json", false},
		{"application/", false},
		{"application", false},
		{"application/js on", false},
		{"application/json/x", false},
		{"application/ json", false},
		{"multipart/form-data; boundary=x+json", false},
		{"application/jsonp+json", true},
		{"image/svg+json", false},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			if got := IsJSONContentType([]byte(tt.ct)); got != tt.want {
				t.Fatalf("IsJSONContentType(%q) = %v, want %v", tt.ct, got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { IsJSONContentType([]byte("application/problem+json; charset=utf-8")) }); n != 0 {
		t.Fatalf("allocates %v times", n)
	}
}

// FuzzIsJSONContentType checks the parser against mime.ParseMediaType:
// whatever we accept, the standard library parses to a JSON type.
func FuzzIsJSONContentType(f *testing.F) {
	for _, s := range []string{"application/json", "application/problem+json; charset=utf-8", "APPLICATION/JSON", "application/+json", "text/json", " application/json ;x=y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !IsJSONContentType([]byte(s)) {
			return
		}
		typ := strings.ToLower(strings.TrimSpace(strings.SplitN(s, ";", 2)[0]))
		if _, _, err := mime.ParseMediaType(typ); err != nil {
			t.Fatalf("accepted %q, which is not a media type: %v", s, err)
		}
		if typ != "application/json" && !(strings.HasPrefix(typ, "application/") && strings.HasSuffix(typ, "+json")) {
			t.Fatalf("accepted %q", s)
		}
	})
}
