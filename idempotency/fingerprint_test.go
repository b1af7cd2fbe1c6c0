package idempotency

import (
	"bytes"
	"testing"
)

func TestFingerprintCoversEveryPart(t *testing.T) {
	base := NewFingerprint([]byte("POST"), []byte("/v1/assets"), []byte("a=1"), []byte(`{"x":1}`))
	tests := []struct {
		name                      string
		method, path, query, body string
		same                      bool
	}{
		{"identical request", "POST", "/v1/assets", "a=1", `{"x":1}`, true},
		{"other method", "PATCH", "/v1/assets", "a=1", `{"x":1}`, false},
		{"other path", "POST", "/v1/asset", "a=1", `{"x":1}`, false},
		{"other query", "POST", "/v1/assets", "a=2", `{"x":1}`, false},
		{"no query", "POST", "/v1/assets", "", `{"x":1}`, false},
		{"other body", "POST", "/v1/assets", "a=1", `{"x":2}`, false},
		{"byte moved from path to query", "POST", "/v1/asset", "sa=1", `{"x":1}`, false},
		{"byte moved from query to body", "POST", "/v1/assets", "a=", `1{"x":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := NewFingerprint([]byte(tt.method), []byte(tt.path), []byte(tt.query), []byte(tt.body))
			if (fp == base) != tt.same {
				t.Fatalf("equal = %v, want %v", fp == base, tt.same)
			}
		})
	}
}

func TestFingerprintDoesNotAllocate(t *testing.T) {
	m, p, q, b := []byte("POST"), []byte("/v1/assets"), []byte("a=1"), bytes.Repeat([]byte("x"), 1024)
	NewFingerprint(m, p, q, b) // fill the pool
	if allocs := testing.AllocsPerRun(100, func() { NewFingerprint(m, p, q, b) }); allocs != 0 {
		t.Fatalf("%v allocations, want 0", allocs)
	}
}
