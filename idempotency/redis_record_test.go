package idempotency

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRedisKeyIsAHashTaggedDigest(t *testing.T) {
	a := redisKey(scopeOf("client-a", "k1"))
	if len(a) != 139 || !strings.HasPrefix(a, "cgw:idem:{") || a[74] != '}' {
		t.Fatalf("key %q", a)
	}
	if strings.Count(a, "{") != 1 || strings.Count(a, "}") != 1 {
		t.Fatalf("key %q: the hash tag must be the only braces", a)
	}
	if redisKey(scopeOf("client-a", "k1")) != a || redisKey(scopeOf("client-b", "k1")) == a || redisKey(scopeOf("client-a", "k2")) == a {
		t.Fatal("key is not a function of the scope")
	}
	// One client's records and quota set share the hash tag (one slot).
	k1, k2 := keysOf(scopeOf("client-a", "k1")), keysOf(scopeOf("client-a", "k2"))
	if k1.record[:75] != k2.record[:75] || k1.quota != "cgw:idemq:"+k1.record[9:75] || k1.member != k1.record[75:] {
		t.Fatalf("keys %q %q %q", k1.record, k2.record, k1.quota)
	}
	// Arbitrary scope bytes never leak into the key.
	if k := redisKey([]byte("\x00{}\r\n")); strings.ContainsAny(k[10:], "{\r\n\x00") {
		t.Fatalf("key %q", k)
	}
}

func TestRecordHeaderLayout(t *testing.T) {
	h := appendHeader(nil, kindClaimed, 0x0102030405060708, fpA)
	if len(h) != headerLen || headerLen != 42 {
		t.Fatalf("header of %d bytes", len(h))
	}
	want := append([]byte{recordVersion, 'C', 1, 2, 3, 4, 5, 6, 7, 8}, fpA[:]...)
	if !bytes.Equal(h, want) {
		t.Fatalf("header %x, want %x", h, want)
	}
	if got := leasePrefix(Lease{Token: 0x0102030405060708, Fingerprint: fpA}); got != string(h[:leasePrefixLen]) {
		t.Fatalf("lease prefix %x", got)
	}
}

func TestAppendResponseMatchesEncodeResponse(t *testing.T) {
	for _, r := range []*Response{{Status: 204}, created()} {
		if got := appendResponse([]byte("hdr"), r); !bytes.Equal(got[3:], encodeResponse(r)) {
			t.Fatalf("appendResponse %x, encodeResponse %x", got[3:], encodeResponse(r))
		}
	}
}

func TestParseRecord(t *testing.T) {
	withResp := appendResponse(appendHeader(nil, kindResponse, 7, fpA), created())
	newer := bytes.Clone(withResp)
	newer[0] = recordVersion + 1
	tests := []struct {
		name     string
		v        []byte
		ok       bool
		kind     byte
		response bool
	}{
		{"claim", appendHeader(nil, kindClaimed, 7, fpA), true, kindClaimed, false},
		{"record with response", withResp, true, kindResponse, true},
		{"abandoned", appendHeader(nil, kindAbandoned, 7, fpA), true, kindAbandoned, false},
		{"a newer version's payload is not read, its header is", newer, true, kindResponse, false},
		{"shorter than a header", []byte("OK"), false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, ok := parseRecord(tt.v)
			if ok != tt.ok || rec.kind != tt.kind || (rec.payload != nil) != tt.response {
				t.Fatalf("parseRecord = %+v, %v", rec, ok)
			}
			if ok && (rec.token != 7 || rec.fp != fpA) {
				t.Fatalf("token %d, fp %x", rec.token, rec.fp)
			}
		})
	}
}

func TestMillisRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		time.Nanosecond: 1, time.Millisecond: 1, 1500 * time.Microsecond: 2, 24 * time.Hour: 86_400_000,
	} {
		if got := millis(d); got != want {
			t.Errorf("millis(%v) = %d, want %d", d, got, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(appendHeader(nil, kindClaimed, 7, fpA))
	f.Add(appendResponse(appendHeader(nil, kindResponse, 7, fpA), created()))
	f.Add([]byte("OK"))
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, ok := parseRecord(v)
		if !ok {
			if len(v) >= headerLen {
				t.Fatalf("refused a %d-byte value", len(v))
			}
			return
		}
		if rec.payload != nil {
			_, _ = decodeResponse(rec.payload) // must not panic on any bytes
		}
	})
}
