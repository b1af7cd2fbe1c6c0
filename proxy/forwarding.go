package proxy

import (
	"net/netip"

	"github.com/valyala/fasthttp"
)

// The request fields the gateway sets (README.md "Security notes";
// README.md "What the gateway sets and strips"). Every copy a client sent
// is removed, on however many lines and in whatever spelling (any case, and
// "_" for "-", which CGI-style servers read as the same name), before the
// gateway writes exactly one of each. Setting a field through fasthttp
// replaces only its first line, so the copies are deleted, never
// overwritten.

var (
	hdrXRealIP   = []byte("X-Real-IP")
	hdrCertSubj  = []byte("X-Client-Cert-Subject")
	hdrForwarded = []byte("Forwarded")
)

// ownedFields are the lower-case names of the fields above. "forwarded"
// (RFC 7239) is removed too unless the peer is a trusted proxy.
var ownedFields = [...]string{
	"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip",
	"x-request-id", "x-consumer-id", "x-client-cert-subject", "forwarded",
}

// ownedField reports whether k names a gateway-set field, compared in any
// case and with "_" read as "-"; keepForwarded exempts "forwarded".
func ownedField(k []byte, keepForwarded bool) bool {
	for _, name := range ownedFields {
		if len(k) != len(name) || (keepForwarded && name == "forwarded") {
			continue
		}
		same := true
		for i := 0; i < len(k) && same; i++ {
			c := k[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == '_' {
				c = '-'
			}
			same = c == name[i]
		}
		if same {
			return true
		}
	}
	return false
}

// trustedPeer reports whether the socket peer is in trusted_proxies.
func (r *request) trustedPeer(peer netip.Addr) bool {
	for _, p := range r.rt.trusted {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// setForwardingFields writes the gateway's forwarding fields. Values a
// client sent are believed only from a peer in trusted_proxies (its chain
// of X-Forwarded-For, its X-Forwarded-Proto and -Host, its Forwarded);
// from any other peer they are replaced, so a client cannot spoof its
// address, scheme or host.
func (r *request) setForwardingFields() {
	h := &r.ctx.Request.Header
	peer := peerAddr(r.ctx)
	trusted := r.trustedPeer(peer)

	// Read everything that is kept before anything is deleted.
	var xffBuf [256]byte
	var protoBuf [16]byte
	var hostBuf [256]byte
	var ipBuf [64]byte
	xff, proto, host := xffBuf[:0], protoBuf[:0], hostBuf[:0]
	if trusted {
		for _, v := range h.PeekAll("X-Forwarded-For") {
			xff = append(xff, v...)
			xff = append(xff, ", "...)
		}
		proto = append(proto, h.PeekBytes(hdrXFProto)...)
		host = append(host, h.PeekBytes(hdrXFHost)...)
	}
	xff = peer.AppendTo(xff)
	if len(proto) == 0 {
		if r.ctx.IsTLS() {
			proto = append(proto, "https"...)
		} else {
			proto = append(proto, "http"...)
		}
	}
	if len(host) == 0 {
		host = append(host, h.Host()...)
	}
	realIP := r.clientAddr().AppendTo(ipBuf[:0])

	dropOwnedFields(h, trusted)

	h.SetBytesKV(hdrXFF, xff)
	h.SetBytesKV(hdrXFProto, proto)
	h.SetBytesKV(hdrXFHost, host)
	h.SetBytesKV(hdrXRealIP, realIP)
	h.SetBytesKV(hdrRequestID, r.reqID())
	if r.identity != nil {
		h.SetBytesK(hdrConsumerID, r.identity.ID)
	}
	if r.certSubject != "" {
		h.SetBytesK(hdrCertSubj, r.certSubject)
	}
}

// dropOwnedFields deletes every client copy of the gateway's own fields.
// Each name is copied before it is deleted (deleting moves the header's
// storage under the slices PeekKeys returns), a few names per pass, until a
// pass finds none.
func dropOwnedFields(h *fasthttp.RequestHeader, keepForwarded bool) {
	for {
		var names [4][64]byte
		var lens [4]int
		n := 0
		for _, k := range h.PeekKeys() {
			if n < len(names) && ownedField(k, keepForwarded) {
				lens[n] = copy(names[n][:], k)
				n++
			}
		}
		for i := 0; i < n; i++ {
			h.DelBytes(names[i][:lens[i]])
		}
		if n < len(names) {
			return
		}
	}
}
