package auth

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func lines(vs ...string) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name   string
		values [][]byte
		token  string
		res    ParseResult
	}{
		{"no field line is missing", nil, "", ParseMissing},
		{"canonical Bearer", lines("Bearer abc123"), "abc123", ParseOK},
		{"scheme is case-insensitive lower (RFC 9110 §11.1)", lines("bearer abc"), "abc", ParseOK},
		{"scheme is case-insensitive upper", lines("BEARER abc"), "abc", ParseOK},
		{"scheme is case-insensitive mixed", lines("bEaReR abc"), "abc", ParseOK},
		{"several spaces after the scheme", lines("Bearer    abc"), "abc", ParseOK},
		{"surrounding spaces trimmed (RFC 9110 §5.5)", lines("  Bearer abc  "), "abc", ParseOK},
		{"surrounding tabs trimmed (OWS includes HTAB)", lines("\tBearer abc\t"), "abc", ParseOK},
		{"tab as separator is not 1*SP", lines("Bearer\tabc"), "", ParseInvalid},
		{"Bearer alone has no token", lines("Bearer"), "", ParseInvalid},
		{"Bearer and a space has an empty token", lines("Bearer "), "", ParseInvalid},
		{"Bearer and spaces has an empty token", lines("Bearer    "), "", ParseInvalid},
		{"empty field value", lines(""), "", ParseInvalid},
		{"whitespace-only field value", lines(" \t "), "", ParseInvalid},
		{"other scheme Basic", lines("Basic dXNlcjpwYXNz"), "", ParseInvalid},
		{"scheme with Bearer as prefix", lines("Bearerx abc"), "", ParseInvalid},
		{"scheme without separator", lines("Bearerabc"), "", ParseInvalid},
		{"two field lines are malformed", lines("Bearer abc", "Bearer abc"), "", ParseMalformed},
		{"two field lines even if one is empty", lines("Bearer abc", ""), "", ParseMalformed},
		{"all b64token characters", lines("Bearer AZaz09-._~+/"), "AZaz09-._~+/", ParseOK},
		{"trailing padding allowed", lines("Bearer abc=="), "abc==", ParseOK},
		{"padding alone is not a token", lines("Bearer =="), "", ParseInvalid},
		{"padding in the middle", lines("Bearer ab=c"), "", ParseInvalid},
		{"space inside the token", lines("Bearer abc def"), "", ParseInvalid},
		{"comma (auth-param list) is not b64token", lines("Bearer abc,def"), "", ParseInvalid},
		{"quote is not b64token", lines(`Bearer "abc"`), "", ParseInvalid},
		{"auth-param form is not token68", lines("Bearer token=abc"), "", ParseInvalid},
		{"non-ASCII byte", lines("Bearer ab\xc3\xa9"), "", ParseInvalid},
		{"NUL byte", lines("Bearer ab\x00c"), "", ParseInvalid},
		{"tab inside the token", lines("Bearer ab\tc"), "", ParseInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, res := ParseAuthorization(tt.values)
			if res != tt.res || string(tok) != tt.token {
				t.Fatalf("ParseAuthorization(%q) = %q, %v; want %q, %v", tt.values, tok, res, tt.token, tt.res)
			}
		})
	}
}

func TestParseAuthorizationReturnsSubslice(t *testing.T) {
	v := []byte("Bearer abc")
	tok, res := ParseAuthorization([][]byte{v})
	if res != ParseOK || &tok[0] != &v[7] {
		t.Fatalf("token is not a subslice of the field value")
	}
	if n := testing.AllocsPerRun(100, func() { ParseAuthorization([][]byte{v}) }); n != 0 {
		t.Fatalf("ParseAuthorization allocates %v times", n)
	}
}

// referenceParse is a slow, obviously-correct restatement of the rules,
// for differential fuzzing.
var b64tokenRE = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

func referenceParse(values []string) (string, ParseResult) {
	if len(values) == 0 {
		return "", ParseMissing
	}
	if len(values) > 1 {
		return "", ParseMalformed
	}
	v := strings.Trim(values[0], " \t")
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(scheme) != len("Bearer") {
		return "", ParseInvalid
	}
	rest = strings.TrimLeft(rest, " ")
	if !b64tokenRE.MatchString(rest) {
		return "", ParseInvalid
	}
	return rest, ParseOK
}

func FuzzParseAuthorization(f *testing.F) {
	// Seeds: RFC 6750 §2.1's example, the cases of the table above, and a
	// second field line (sep = the split marker).
	for _, s := range []string{
		"Bearer mF_9.B5f-4.1JqM", "bearer abc", "Bearer    abc", "  Bearer abc\t",
		"Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer abc==", "Bearer ==",
		"Bearer ab=c", "Bearer\tabc", "Bearer abc\x00Bearer def", "",
		"B\u0130arer abc", "BEARER\u00a0abc", "Bearer abc def",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A NUL splits the input into several field lines.
		var values []string
		if s != "" {
			values = strings.Split(s, "\x00")
		}
		tok, res := ParseAuthorization(lines(values...))
		wantTok, wantRes := referenceParse(values)
		if res != wantRes || string(tok) != wantTok {
			t.Fatalf("ParseAuthorization(%q) = %q, %v; reference says %q, %v", values, tok, res, wantTok, wantRes)
		}
		if res == ParseOK && !bytes.Contains([]byte(values[0]), tok) {
			t.Fatalf("token %q not inside %q", tok, values[0])
		}
	})
}

func TestParseResultString(t *testing.T) {
	for r, want := range map[ParseResult]string{ParseOK: "ok", ParseMissing: "missing", ParseMalformed: "malformed", ParseInvalid: "invalid", 99: "unknown"} {
		if r.String() != want {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), want)
		}
	}
}
