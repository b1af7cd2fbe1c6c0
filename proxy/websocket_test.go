package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// RFC 6455 §4.1 and RFC 9110 §7.8: a WebSocket upgrade is a GET whose
// Connection lists "upgrade" and whose Upgrade lists "websocket", both
// case-insensitive, each possibly among other items.
func TestIsWebSocketUpgrade(t *testing.T) {
	cases := []struct {
		name             string
		method           string
		connection, upgr []string
		want             bool
	}{
		{"the usual handshake", "GET", []string{"Upgrade"}, []string{"websocket"}, true},
		{"case-insensitive", "GET", []string{"upgrade"}, []string{"WebSocket"}, true},
		{"upgrade among other Connection items", "GET", []string{"keep-alive, Upgrade"}, []string{"websocket"}, true},
		{"Connection on two lines", "GET", []string{"keep-alive", "upgrade"}, []string{"websocket"}, true},
		{"websocket among other protocols", "GET", []string{"Upgrade"}, []string{"h2c, websocket"}, true},
		{"a versioned protocol token", "GET", []string{"Upgrade"}, []string{"websocket/13"}, true},
		{"no Connection: Upgrade", "GET", nil, []string{"websocket"}, false},
		{"no Upgrade", "GET", []string{"Upgrade"}, nil, false},
		{"another protocol", "GET", []string{"Upgrade"}, []string{"h2c"}, false},
		{"not a GET", "POST", []string{"Upgrade"}, []string{"websocket"}, false},
		{"a token that only contains upgrade", "GET", []string{"upgraded"}, []string{"websocket"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			h.SetMethod(tc.method)
			for _, v := range tc.connection {
				h.Add("Connection", v)
			}
			for _, v := range tc.upgr {
				h.Add("Upgrade", v)
			}
			if got := isWebSocketUpgrade(&h); got != tc.want {
				t.Fatalf("isWebSocketUpgrade = %v, want %v", got, tc.want)
			}
		})
	}
}
