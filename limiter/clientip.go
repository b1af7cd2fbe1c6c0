package limiter

import (
	"bytes"
	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
	"net/netip"
	"unsafe"
)

// ClientIP returns the address of the client a request comes from, the key
// of `ip` policies. It is peer, the socket's remote address, unless peer is
// one of the trusted proxies (docs/configuration.md `server.trusted_proxies`); then the
// X-Forwarded-For field lines xff (all of them, in the order received) are
// read as one list, from the right: each element was appended by the hop
// to its right, so the walk goes on while the address found is itself a
// trusted proxy, and the first address that is not is the client. Only
// trusted hops are believed: an X-Forwarded-For from an untrusted peer,
// or anything a client wrote left of the first untrusted address, never
// changes the key.
//
// An element that is not an address (RFC 7239 "unknown", an obfuscated
// identifier) ends the walk at the trusted hop that wrote it, as does the
// end of the list; that hop's address is returned. Empty elements are
// skipped (RFC 9110 §5.6.1.2). Elements may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"). Addresses are unmapped (::ffff:192.0.2.1 is
// 192.0.2.1) and lose any zone before they are matched against trusted,
// so write IPv4 prefixes in IPv4 form.
//
// It allocates nothing for well-formed input.
func ClientIP(peer netip.Addr, trusted []netip.Prefix, xff ...[]byte) netip.Addr {
	addr := peer.Unmap().WithZone("")
	if !isTrusted(addr, trusted) {
		return addr
	}
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for len(line) > 0 {
			j := bytes.LastIndexByte(line, ',')
			el := httpsyntax.TrimOWS(line[j+1:])
			line = line[:max(j, 0)]
			if len(el) == 0 {
				continue
			}
			a, ok := parseForwarded(el)
			if !ok {
				return addr
			}
			addr = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxAddrText is longer than any address with a port we accept.
const maxAddrText = 64

// parseForwarded parses one X-Forwarded-For element: an IPv4 or IPv6
// address, optionally bracketed, optionally with a port.
func parseForwarded(el []byte) (netip.Addr, bool) {
	if len(el) > maxAddrText {
		return netip.Addr{}, false
	}
	host := el
	if host[0] == '[' {
		end := bytes.IndexByte(host, ']')
		if end < 0 || (end+1 < len(host) && host[end+1] != ':') {
			return netip.Addr{}, false
		}
		host = host[1:end]
	} else if c := bytes.IndexByte(host, ':'); c >= 0 && bytes.IndexByte(host[c+1:], ':') < 0 {
		host = host[:c] // IPv4 with a port: one colon only
	}
	if z := bytes.IndexByte(host, '%'); z >= 0 {
		host = host[:z] // a zone means nothing to another host
	}
	if len(host) == 0 {
		return netip.Addr{}, false
	}
	for _, c := range host {
		// Refuse "unknown" and other words before ParseAddr, whose error
		// would allocate.
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false
		}
	}
	// The string aliases el only for the call: with the zone gone, the Addr
	// keeps no reference to it (and the error, which would, is dropped).
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(host), len(host)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
