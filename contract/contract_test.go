package contract

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestWriteBody(t *testing.T) {
	var resp fasthttp.Response
	p := Problem{Status: 429, Code: CodeRateLimited, RequestID: []byte("rid-1"), RetryAfter: 3, Extra: []byte(`"x":1`)}
	Write(&resp, &p, Options{TypeBase: "https://docs.example.com/errors/"})
	var m map[string]any
	if err := json.Unmarshal(resp.Body(), &m); err != nil {
		t.Fatalf("%v: %s", err, resp.Body())
	}
	want := map[string]any{
		"status": 429.0, "title": "Too Many Requests", "detail": "You're making requests too often! Slow down!",
		"code": "rate_limited", "request_id": "rid-1", "type": "https://docs.example.com/errors/rate_limited",
		"retry_after": 3.0, "x": 1.0,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	checks := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Request-Id": "rid-1", "Retry-After": "3"}
	for k, v := range checks {
		if got := string(resp.Header.Peek(k)); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestWriteOutsideSetIsInternalError(t *testing.T) {
	var resp fasthttp.Response
	p := Problem{Status: 502, Code: "x", RequestID: []byte("r")}
	Write(&resp, &p, Options{ProblemJSON: true})
	if resp.StatusCode() != 500 || p.Code != CodeInternalError || string(resp.Header.ContentType()) != "application/problem+json" {
		t.Fatalf("status %d code %s ct %s", resp.StatusCode(), p.Code, resp.Header.ContentType())
	}
}

func TestEveryStatusHasTitleAndDetail(t *testing.T) {
	for _, s := range Statuses {
		if Title(s) == "" || Detail(s) == "" || !InSet(s) {
			t.Errorf("%d: title %q detail %q", s, Title(s), Detail(s))
		}
	}
	for _, s := range []int{200, 302, 402, 407, 408, 413, 431, 451, 501, 502, 504, 599, 0, -1, 1000} {
		if InSet(s) {
			t.Errorf("%d must be outside the set", s)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := map[string]string{
		`plain`:         `"plain"`,
		"quote\"back\\": `"quote\"back\\"`,
		"ctl\x01\n":     `"ctl\u0001\u000a"`,
		"<html>&":       `"\u003chtml\u003e\u0026"`,
		"bad\xffutf8":   `"bad\ufffdutf8"`,
		"sep\u2028":     `"sep\u2028"`,
		"unicode é ✓":   `"unicode é ✓"`,
	}
	for in, want := range cases {
		got := string(AppendJSONString(nil, in))
		if got != want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q does not parse: %v", got, err)
		}
	}
}

func TestTable(t *testing.T) {
	tab, err := NewTable(map[int]int{502: 503, 200: 500})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		from, to int
		code     string
	}{
		{200, 500, CodeUpstreamError}, {204, 204, ""}, {301, 301, ""}, {304, 304, ""},
		{404, 404, "upstream_404"}, {407, 401, "upstream_401"}, {402, 403, "upstream_403"},
		{451, 403, "upstream_403"}, {423, 409, "upstream_409"}, {424, 422, "upstream_422"},
		{408, 503, CodeUpstreamTimeout}, {425, 503, CodeUpstreamUnavailable}, {413, 400, "upstream_400"},
		{500, 500, "upstream_500"}, {501, 500, CodeUpstreamError}, {502, 503, CodeUpstreamUnavailable},
		{503, 503, "upstream_503"}, {504, 503, CodeUpstreamTimeout}, {99, 500, CodeUpstreamBadResponse},
		{600, 500, CodeUpstreamBadResponse},
	}
	for _, tc := range cases {
		to, code := tab.Map(tc.from)
		if to != tc.to || code != tc.code {
			t.Errorf("Map(%d) = %d %q, want %d %q", tc.from, to, code, tc.to, tc.code)
		}
	}
	if _, err := NewTable(map[int]int{502: 504}); err == nil {
		t.Fatal("an override to 504 must be refused")
	}
}

func BenchmarkWrite(b *testing.B) {
	var resp fasthttp.Response
	id := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		p := Problem{Status: 404, Code: CodeRouteNotFound, RequestID: id}
		Write(&resp, &p, Options{})
	}
}
