package proxy

import (
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	jsonOnly := []mediaType{parseMediaType("application/json")}
	csvAndJSON := []mediaType{parseMediaType("text/csv"), parseMediaType("application/json")}
	cases := []struct {
		name     string
		accept   []string
		produces []mediaType
		ok       bool
		problem  bool
		bad      bool
	}{
		{"absent header is acceptable", nil, jsonOnly, true, false, false},
		{"empty header is acceptable", []string{""}, jsonOnly, true, false, false},
		{"only empty elements is acceptable", []string{" , ,"}, jsonOnly, true, false, false},
		{"exact type", []string{"application/json"}, jsonOnly, true, false, false},
		{"type is case-insensitive", []string{"Application/JSON"}, jsonOnly, true, false, false},
		{"type wildcard", []string{"application/*"}, jsonOnly, true, false, false},
		{"full wildcard", []string{"*/*"}, jsonOnly, true, false, false},
		{"other type only is 406", []string{"text/html"}, jsonOnly, false, false, false},
		{"other type wildcard is 406", []string{"text/*"}, jsonOnly, false, false, false},
		{"q=0 on exact refuses", []string{"application/json;q=0"}, jsonOnly, false, false, false},
		{"most specific decides: json;q=0 beats */*", []string{"application/json;q=0, */*"}, jsonOnly, false, true, false},
		{"most specific decides: */*;q=0 loses to exact", []string{"*/*;q=0, application/json"}, jsonOnly, true, false, false},
		{"type/* q=0 overrides */*", []string{"application/*;q=0, */*;q=1"}, jsonOnly, false, false, false},
		{"Q is case-insensitive", []string{"application/json;Q=0"}, jsonOnly, false, false, false},
		{"q with three decimals", []string{"application/json;q=0.001"}, jsonOnly, true, false, false},
		{"q=1.000 valid", []string{"application/json; q=1.000"}, jsonOnly, true, false, false},
		{"OWS around params", []string{"application/json ; q=0.5 , text/html"}, jsonOnly, true, false, false},
		{"charset utf-8 matches json", []string{"application/json; charset=UTF-8"}, jsonOnly, true, false, false},
		{"other charset does not match", []string{"application/json; charset=latin1"}, jsonOnly, false, false, false},
		{"unknown param does not match", []string{"application/json; version=2"}, jsonOnly, false, false, false},
		{"accept-ext after q ignored", []string{"application/json;q=0.5;ext=1"}, jsonOnly, true, false, false},
		{"several field lines are one list", []string{"text/html", "application/json"}, jsonOnly, true, false, false},
		{"several produces: second matches", []string{"text/csv;q=0, application/json"}, csvAndJSON, true, false, false},
		{"several produces: none", []string{"text/html"}, csvAndJSON, false, false, false},
		{"problem+json alone is 406 for a json route", []string{"application/problem+json"}, jsonOnly, false, true, false},
		{"problem+json preferred", []string{"application/problem+json, application/json;q=0.9"}, jsonOnly, true, true, false},
		{"json preferred over problem", []string{"application/json, application/problem+json;q=0.5"}, jsonOnly, true, false, false},
		{"equal q keeps json", []string{"*/*"}, jsonOnly, true, false, false},
		{"legacy bare star", []string{"text/html, *; q=.2"}, jsonOnly, true, false, false},
		{"java default header", []string{"text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"}, jsonOnly, true, false, false},
		{"quoted param with comma", []string{`application/json;x="a,b";q=0, */*;q=0`}, jsonOnly, false, false, false},
		{"malformed: no slash", []string{"json"}, jsonOnly, false, false, true},
		{"malformed: empty subtype", []string{"application/"}, jsonOnly, false, false, true},
		{"malformed: star type with subtype", []string{"*/json"}, jsonOnly, false, false, true},
		{"malformed: q above 1", []string{"application/json;q=2"}, jsonOnly, false, false, true},
		{"malformed: q 1.5", []string{"application/json;q=1.5"}, jsonOnly, false, false, true},
		{"malformed: q not a number", []string{"application/json;q=abc"}, jsonOnly, false, false, true},
		{"malformed: q four decimals", []string{"application/json;q=0.1234"}, jsonOnly, false, false, true},
		{"malformed: param without value", []string{"application/json;q"}, jsonOnly, false, false, true},
		{"malformed: unterminated quote", []string{`application/json;x="abc`}, jsonOnly, false, false, true},
		{"malformed: control char", []string{"application/json\x01"}, jsonOnly, false, false, true},
		{"malformed: semicolons only", []string{";;;"}, jsonOnly, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var lines [][]byte
			for _, l := range tc.accept {
				lines = append(lines, []byte(l))
			}
			got, err := negotiate(lines, tc.produces)
			if tc.bad {
				if err == nil {
					t.Fatalf("negotiate(%q) = %+v, want an error", tc.accept, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("negotiate(%q) error %v", tc.accept, err)
			}
			if got.acceptable != tc.ok || got.problemJSON != tc.problem {
				t.Fatalf("negotiate(%q) = %+v, want acceptable=%v problemJSON=%v", tc.accept, got, tc.ok, tc.problem)
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"application/json", "application/json;q=0, */*", "text/*;q=0.5", "*; q=.2", `a/b;x="y,z"`, "application/problem+json", ";;", "a/b;q=1.5"} {
		f.Add(s)
	}
	produces := []mediaType{parseMediaType("application/json"), parseMediaType("text/csv;header=present")}
	f.Fuzz(func(t *testing.T, accept string) {
		res, err := negotiate([][]byte{[]byte(accept)}, produces)
		if err != nil {
			return
		}
		// An acceptable answer for a header that names none of the types
		// and no wildcard would be a bug.
		if res.acceptable && !strings.Contains(accept, "*") && !strings.Contains(strings.ToLower(accept), "json") && !strings.Contains(strings.ToLower(accept), "csv") && strings.Trim(accept, " ,\t") != "" {
			t.Fatalf("%q judged acceptable", accept)
		}
	})
}

func BenchmarkNegotiate(b *testing.B) {
	produces := []mediaType{parseMediaType("application/json")}
	lines := [][]byte{[]byte("text/html, application/json;q=0.9, */*;q=0.1")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := negotiate(lines, produces); err != nil {
			b.Fatal(err)
		}
	}
}
