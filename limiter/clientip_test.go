package limiter

import (
	"net/netip"
	"strings"
	"testing"
)

var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no X-Forwarded-For: the peer", "192.0.2.1", nil, "192.0.2.1"},
		{"an untrusted peer's X-Forwarded-For is ignored", "192.0.2.1", []string{"198.51.100.7"}, "192.0.2.1"},
		{"a spoofed chain from an untrusted peer is ignored", "192.0.2.1", []string{"10.0.0.1, 198.51.100.7"}, "192.0.2.1"},
		{"a trusted peer: the address it forwarded for", "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"the first untrusted address from the right", "10.0.0.1", []string{"203.0.113.9, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"a client cannot spoof by prepending", "10.0.0.1", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"a client cannot hide behind a trusted-looking prefix", "10.0.0.1", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"several field lines are one list, in order", "10.0.0.1", []string{"203.0.113.9", "198.51.100.7, 10.0.0.3"}, "198.51.100.7"},
		{"all trusted: the leftmost trusted hop", "10.0.0.1", []string{"10.0.0.2, 10.0.0.3"}, "10.0.0.2"},
		{"empty: the trusted peer", "10.0.0.1", []string{""}, "10.0.0.1"},
		{"empty elements are skipped (RFC 9110 §5.6.1.2)", "10.0.0.1", []string{"198.51.100.7, , ,"}, "198.51.100.7"},
		{"unknown stops at the hop that wrote it", "10.0.0.1", []string{"198.51.100.7, unknown, 10.0.0.2"}, "10.0.0.2"},
		{"garbage stops at the peer", "10.0.0.1", []string{"198.51.100.7, ::g"}, "10.0.0.1"},
		{"an IPv4 port is dropped", "10.0.0.1", []string{"198.51.100.7:4711"}, "198.51.100.7"},
		{"a bracketed IPv6 with a port", "10.0.0.1", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"a bracketed IPv6", "10.0.0.1", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"a plain IPv6", "10.0.0.1", []string{"2001:db8::7"}, "2001:db8::7"},
		{"a zone is dropped", "10.0.0.1", []string{"fe80::1%eth0"}, "fe80::1"},
		{"an IPv4-mapped address is unmapped", "10.0.0.1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"an IPv4-mapped peer is matched as IPv4", "::ffff:10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"an IPv4-mapped untrusted peer is unmapped", "::ffff:192.0.2.1", nil, "192.0.2.1"},
		{"tabs and spaces around elements", "10.0.0.1", []string{"\t198.51.100.7 ,\t10.0.0.2 "}, "198.51.100.7"},
		{"IPv6 trusted proxies", "2001:db8:ffff::1", []string{"2001:db8::7, 2001:db8:ffff::2"}, "2001:db8::7"},
		{"a bad bracket stops the walk", "10.0.0.1", []string{"[2001:db8::7"}, "10.0.0.1"},
		{"a text after the bracket stops the walk", "10.0.0.1", []string{"[2001:db8::7]x"}, "10.0.0.1"},
		{"an over-long element stops the walk", "10.0.0.1", []string{strings.Repeat("1", 100)}, "10.0.0.1"},
		{"an invalid peer is the zero address", "", []string{"198.51.100.7"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var peer netip.Addr
			if tt.peer != "" {
				peer = netip.MustParseAddr(tt.peer)
			}
			var lines [][]byte
			for _, x := range tt.xff {
				lines = append(lines, []byte(x))
			}
			if got := ClientIP(peer, testTrusted, lines...).String(); got != tt.want {
				t.Fatalf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPAllocatesNothing(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.1")
	xff := []byte("203.0.113.9, [2001:db8::7]:443, 10.0.0.2")
	if n := testing.AllocsPerRun(100, func() { ClientIP(peer, testTrusted, xff) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in     string
		kind   KeyKind
		header string
		ok     bool
	}{
		{"ip", KeyIP, "", true},
		{"token", KeyToken, "", true},
		{"route", KeyRoute, "", true},
		{"client_cert", KeyClientCert, "", true},
		{"header:X-Api-Key", KeyHeader, "X-Api-Key", true},
		{"header:", 0, "", false},
		{"header:X Api", 0, "", false},
		{"header:X-Api:Key", 0, "", false},
		{"IP", 0, "", false},
		{"", 0, "", false},
		{"header", 0, "", false},
		{"cookie:session", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			kind, header, err := ParseKey(tt.in)
			if (err == nil) != tt.ok || kind != tt.kind || header != tt.header {
				t.Fatalf("ParseKey(%q) = %v, %q, %v", tt.in, kind, header, err)
			}
		})
	}
}

// FuzzParseKey: a key that parses formats back to its input and makes a
// valid policy.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"ip", "token", "route", "client_cert", "header:X-Api-Key", "header:", "header:a b", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, header, err := ParseKey(s)
		if err != nil {
			return
		}
		back := kind.String()
		if kind == KeyHeader {
			back += ":" + header
		}
		if back != s {
			t.Fatalf("ParseKey(%q) formats back as %q", s, back)
		}
		p := &Policy{Name: "p", Key: kind, Header: header, Rate: 1, Burst: 1}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseKey(%q) gives an invalid policy: %v", s, err)
		}
	})
}

// clientIPOracle is a plain reading of the same rule, with strings.
func clientIPOracle(peer netip.Addr, trusted []netip.Prefix, lines []string) netip.Addr {
	addr := peer.Unmap().WithZone("")
	if !isTrusted(addr, trusted) {
		return addr
	}
	var elems []string
	for _, line := range lines {
		elems = append(elems, strings.Split(line, ",")...)
	}
	for i := len(elems) - 1; i >= 0; i-- {
		el := strings.Trim(elems[i], " \t")
		if el == "" {
			continue
		}
		a, ok := parseForwarded([]byte(el))
		if !ok {
			return addr
		}
		addr = a
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return addr
}

func FuzzClientIP(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, "203.0.113.9, 198.51.100.7, 10.0.0.2", "")
	f.Add([]byte{192, 0, 2, 1}, "10.0.0.1, 198.51.100.7", "")
	f.Add([]byte{10, 0, 0, 1}, "[2001:db8::7]:4711", "unknown, 10.0.0.2")
	f.Add(netip.MustParseAddr("2001:db8:ffff::1").AsSlice(), "fe80::1%eth0", ",,")
	f.Fuzz(func(t *testing.T, peerBytes []byte, line1, line2 string) {
		peer, _ := netip.AddrFromSlice(peerBytes)
		lines := []string{line1, line2}
		got := ClientIP(peer, testTrusted, []byte(line1), []byte(line2))
		if want := clientIPOracle(peer, testTrusted, lines); got != want {
			t.Fatalf("ClientIP = %v, oracle %v", got, want)
		}
		if !isTrusted(peer.Unmap(), testTrusted) && got != peer.Unmap().WithZone("") {
			t.Fatalf("untrusted peer %v: X-Forwarded-For changed the key to %v", peer, got)
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("result %v is not normalized", got)
		}
	})
}
