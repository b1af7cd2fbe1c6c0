package idempotency

import (
	"bytes"
	"testing"
)

func TestDecide(t *testing.T) {
	stored := &Response{Status: 201}
	tests := []struct {
		name string
		mode Mode
		r    ClaimResult
		want Action
	}{
		{"claimed is forwarded in conflict mode", ModeConflict, ClaimResult{State: StateClaimed}, Forward},
		{"claimed is forwarded in replay mode", ModeReplay, ClaimResult{State: StateClaimed}, Forward},
		{"in flight is 409 in conflict mode", ModeConflict, ClaimResult{State: StateInFlight, SameFingerprint: true}, ConflictInFlight},
		{"in flight is 409 in replay mode", ModeReplay, ClaimResult{State: StateInFlight, SameFingerprint: true}, ConflictInFlight},
		{"in flight with another fingerprint is still 409", ModeReplay, ClaimResult{State: StateInFlight}, ConflictInFlight},
		{"completed is reused in conflict mode", ModeConflict, ClaimResult{State: StateCompleted, SameFingerprint: true, Response: stored}, ConflictReused},
		{"completed same fingerprint replays", ModeReplay, ClaimResult{State: StateCompleted, SameFingerprint: true, Response: stored}, Replay},
		{"completed other fingerprint is 422", ModeReplay, ClaimResult{State: StateCompleted, Response: stored}, Mismatch},
		{"completed without response is reused", ModeReplay, ClaimResult{State: StateCompleted, SameFingerprint: true}, ConflictReused},
		{"zero result (error) is never forwarded", ModeReplay, ClaimResult{}, Mismatch},
		{"zero result in conflict mode is never forwarded", ModeConflict, ClaimResult{}, ConflictReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.mode, tt.r); got != tt.want {
				t.Fatalf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"conflict": ModeConflict, "": ModeConflict, "replay": ModeReplay} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMode("Replay"); err == nil {
		t.Error("ParseMode accepted a misspelt mode")
	}
}

func TestResponseEncodingRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		r    Response
	}{
		{"no headers no body", Response{Status: 204}},
		{"typical created", Response{Status: 201, Headers: []Header{
			{[]byte("Content-Type"), []byte("application/json")},
			{[]byte("Location"), []byte("/v1/assets/42")},
		}, Body: []byte(`{"id":42}`)}},
		{"more headers than the inline room", Response{Status: 200, Headers: func() []Header {
			var h []Header
			for i := range 9 {
				h = append(h, Header{[]byte("Link"), bytes.Repeat([]byte{'a' + byte(i)}, 200)})
			}
			return h
		}(), Body: bytes.Repeat([]byte("x"), 70000)}},
		{"empty header value", Response{Status: 200, Headers: []Header{{[]byte("ETag"), nil}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encodeResponse(&tt.r)
			if len(enc) != encodedSize(&tt.r) {
				t.Fatalf("encoded %d bytes, size said %d", len(enc), encodedSize(&tt.r))
			}
			got, err := decodeResponse(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !sameResponse(got, &tt.r) {
				t.Fatalf("decoded %+v, want %+v", got, tt.r)
			}
		})
	}
	for _, bad := range [][]byte{nil, {0, 200}, {0, 200, 5, 1}, {0, 200, 1, 9, 'a'}} {
		if _, err := decodeResponse(bad); err == nil {
			t.Errorf("decodeResponse(%v) accepted a corrupt record", bad)
		}
	}
}

func sameResponse(a, b *Response) bool {
	if a.Status != b.Status || !bytes.Equal(a.Body, b.Body) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if !bytes.Equal(a.Headers[i].Name, b.Headers[i].Name) || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func TestIsStoredHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Content-Type", true},
		{"content-type", true},
		{"LOCATION", true},
		{"ETag", true},
		{"Set-Cookie", false},
		{"Connection", false},
		{"Transfer-Encoding", false},
		{"Content-Length", false},
		{"Date", false},
		{"RateLimit", false},
		{"RateLimit-Policy", false},
		{"X-RateLimit-Remaining", false},
		{"X-Request-Id", false},
		{"Content-Typf", false},
		{"Content_Type", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsStoredHeader([]byte(tt.name)); got != tt.want {
				t.Fatalf("IsStoredHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
