package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrMalformedJSON matches (errors.Is) every error Validate returns for a
// body that is not JSON: the proxy answers 400 malformed_json.
var ErrMalformedJSON = errors.New("malformed JSON")

// SyntaxError says where and why a body is not JSON. Offset is in bytes from
// the start of the body. Both are about the client's own document, so
// Detail can be sent back as is.
type SyntaxError struct {
	Offset int64
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v at byte offset %d: %s", ErrMalformedJSON, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrMalformedJSON) true.
func (e *SyntaxError) Unwrap() error { return ErrMalformedJSON }

// Detail is a safe sentence for the problem's detail member.
func (e *SyntaxError) Detail() string {
	return fmt.Sprintf("The request body is not valid JSON: %s (byte offset %d)", e.Reason, e.Offset)
}

// Reasons; fixed sentences, never the body's bytes.
const (
	reasonEmpty     = "the body is empty"
	reasonTruncated = "the body ends before the JSON value is complete"
	reasonSyntax    = "syntax error"
	reasonTrailing  = "unexpected data after the JSON value"
	reasonUTF8      = "the body is not valid UTF-8"
	reasonDuplicate = "an object has the same member name twice"
)

// decode reads body as exactly one JSON text, numbers as json.Number (the
// library's representation, so no precision is lost before "multipleOf" or
// "maximum" looks at them).
func decode(body []byte) (any, error) {
	// RFC 8259 §8.1: JSON text is UTF-8. encoding/json would replace bad
	// bytes in strings with U+FFFD and validate a value the upstream never
	// sees; refuse them instead.
	if !utf8.Valid(body) {
		return nil, &SyntaxError{Offset: invalidUTF8Offset(body), Reason: reasonUTF8}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(err, body)
	}
	// The decoder stops after the first value; RFC 8259 §2 allows only
	// whitespace after it ("{} {}" and "1x" are not JSON texts).
	off := dec.InputOffset()
	for off < int64(len(body)) && isJSONSpace(body[off]) {
		off++
	}
	if off != int64(len(body)) {
		return nil, &SyntaxError{Offset: off, Reason: reasonTrailing}
	}
	if members(body) != decodedMembers(v) {
		return nil, &SyntaxError{Offset: duplicateOffset(body), Reason: reasonDuplicate}
	}
	return v, nil
}

func syntaxError(err error, body []byte) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		// Nothing but whitespace (or nothing at all): RFC 8259 §2 requires
		// a value.
		return &SyntaxError{Offset: 0, Reason: reasonEmpty}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &SyntaxError{Offset: int64(len(body)), Reason: reasonTruncated}
	case errors.As(err, &se):
		// Offset is the count of bytes read when the error was seen, i.e.
		// just after the offending byte.
		off := se.Offset - 1
		if off < 0 {
			off = 0
		}
		return &SyntaxError{Offset: off, Reason: reasonSyntax}
	}
	return &SyntaxError{Offset: 0, Reason: reasonSyntax}
}

func isJSONSpace(c byte) bool {
	// RFC 8259 §2: ws = *( %x20 / %x09 / %x0A / %x0D )
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func invalidUTF8Offset(b []byte) int64 {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return int64(i)
		}
		i += n
	}
	return int64(len(b))
}

// members counts the object members of a valid JSON text: one name
// separator ":" per member outside strings (RFC 8259 §4).
func members(body []byte) int {
	n := 0
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

// decodedMembers counts the members of the decoded objects. encoding/json
// keeps the last of two members with the same name, so fewer members than
// members(body) means the body repeated a name.
func decodedMembers(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for _, e := range v {
			n += decodedMembers(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += decodedMembers(e)
		}
		return n
	}
	return 0
}

// duplicateOffset finds where the first repeated member name ends. It is the
// slow path, run only once decode knows there is one.
func duplicateOffset(body []byte) int64 {
	type frame struct {
		object    bool
		expectKey bool
		names     map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return 0 // cannot happen on a body decode accepted
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true, expectKey: true, names: map[string]struct{}{}})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		case string:
			if top := len(stack) - 1; top >= 0 && stack[top].object && stack[top].expectKey {
				if _, dup := stack[top].names[t]; dup {
					return dec.InputOffset()
				}
				stack[top].names[t] = struct{}{}
				stack[top].expectKey = false
				continue
			}
		}
		valueDone()
	}
}
