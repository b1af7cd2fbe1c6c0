package schema

import (
	"fmt"
	"strings"
	"testing"
)

const benchSchema = `{
  "type": "object",
  "required": ["id", "name", "tags", "lines"],
  "additionalProperties": false,
  "properties": {
    "id":    {"type": "string", "pattern": "^[a-z0-9_-]{8,40}$"},
    "name":  {"type": "string", "minLength": 1, "maxLength": 200},
    "note":  {"type": "string", "maxLength": 1000},
    "tags":  {"type": "array", "items": {"type": "string"}, "maxItems": 20},
    "lines": {
      "type": "array", "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "qty", "price"],
        "properties": {
          "sku":   {"type": "string"},
          "qty":   {"type": "integer", "minimum": 1},
          "price": {"type": "number", "exclusiveMinimum": 0}
        }
      }
    }
  }
}`

func benchBody() []byte {
	var lines []string
	for i := 0; i < 19; i++ {
		lines = append(lines, fmt.Sprintf(`{"sku":"SKU-%04d-XL","qty":%d,"price":%d.99}`, i, i+1, 10+i))
	}
	return []byte(`{"id":"order_0123456789","name":"Quarterly restock for the north warehouse",` +
		`"note":"Deliver to dock 4 between 08:00 and 12:00; call ahead.",` +
		`"tags":["restock","north","priority","q3"],"lines":[` + strings.Join(lines, ",") + `]}`)
}

// BenchmarkValidateValid1KiB: the cost a schema route adds to a valid
// request of about 1 KiB (decode once, validate, no violations).
func BenchmarkValidateValid1KiB(b *testing.B) {
	s := mustCompile(b, benchSchema)
	body := benchBody()
	if v, err := s.Validate(body); err != nil || v != nil {
		b.Fatalf("bench body invalid: %v %v", v, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := s.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkValidateValid1KiBLibraryPath: the same body through the library's
// path alone (decode to maps, then the validator), as every body took before
// the fast path; the ratio of the two is the fast path's gain.
func BenchmarkValidateValid1KiBLibraryPath(b *testing.B) {
	s := mustCompile(b, benchSchema)
	s.fast = nil
	body := benchBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := s.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkValidateInvalid1KiB: the same body with three violations.
func BenchmarkValidateInvalid1KiB(b *testing.B) {
	s := mustCompile(b, benchSchema)
	body := []byte(strings.Replace(strings.Replace(string(benchBody()), `"qty":3`, `"qty":0`, 1), `"price":10.99`, `"price":"x"`, 1) + " ")
	body = []byte(strings.Replace(string(body), `"id":"order_0123456789"`, `"id":"BAD ID"`, 1))
	if v, err := s.Validate(body); err != nil || len(v) != 3 {
		b.Fatalf("want 3 violations: %v %v", v, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		s.Validate(body)
	}
	cpu.stop(b)
}

func BenchmarkIsJSONContentType(b *testing.B) {
	ct := []byte("application/problem+json; charset=utf-8")
	b.ReportAllocs()
	for b.Loop() {
		IsJSONContentType(ct)
	}
}

// BenchmarkDecode1KiB isolates the decoding half of Validate (UTF-8 check,
// encoding/json with json.Number, trailing-data and duplicate-name checks).
func BenchmarkDecode1KiB(b *testing.B) {
	body := benchBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}
