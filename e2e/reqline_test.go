package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// connSession is one raw client connection on which several requests are
// written and their responses read in turn.
type connSession struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialSession(t *testing.T, g *gateway) *connSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newSession(t, c)
}

func newSession(t *testing.T, c net.Conn) *connSession {
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &connSession{t: t, c: c, br: bufio.NewReader(c)}
}

func (s *connSession) send(req string) {
	s.t.Helper()
	if _, err := io.WriteString(s.c, req); err != nil {
		s.t.Fatal(err)
	}
}

// next reads the next response: its status, the Connection header, and
// the body's "code" member (for contract errors).
func (s *connSession) next() (status int, connection, code string) {
	s.t.Helper()
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.t.Fatalf("reading a response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m struct{ Code string }
	_ = json.Unmarshal(b, &m)
	conn := strings.ToLower(resp.Header.Get("Connection"))
	if resp.Close {
		conn = "close"
	}
	return resp.StatusCode, conn, m.Code
}

// closed reports whether the gateway ended the connection.
func (s *connSession) closed() bool {
	_ = s.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := s.br.ReadByte()
	return err == io.EOF
}

// TestHostileRequestLineBareLF: a request line that ends in a bare LF is
// 400 malformed_request and never forwarded, whether it is the first
// request of a connection or a later keep-alive one; a body that holds such
// a line is just a body (README.md "Security notes").
func TestHostileRequestLineBareLF(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, ""))
	bodyWithLine := "GET / HTTP/1.1\nHost: x\n\n"
	post := "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(bodyWithLine)) + "\r\n\r\n" + bodyWithLine

	t.Run("first request of a connection", func(t *testing.T) {
		before := up.count.Load()
		s := dialSession(t, g)
		s.send("GET /v1/assets HTTP/1.1\nHost: x\r\n\r\n")
		if st, conn, code := s.next(); st != 400 || code != "malformed_request" || conn != "close" {
			t.Fatalf("%d %q %q, want 400 malformed_request and close", st, code, conn)
		}
		if !s.closed() {
			t.Fatal("the connection stayed open")
		}
		if up.count.Load() != before {
			t.Fatal("the request reached the upstream")
		}
		assertRawProblem(t, g.raw(t, "GET /v1/assets HTTP/1.1\nHost: x\r\n\r\n"), 400, "malformed_request")
	})

	t.Run("second keep-alive request, after a body holding a bare-LF request line", func(t *testing.T) {
		before := up.count.Load()
		s := dialSession(t, g)
		s.send(post)
		if st, conn, _ := s.next(); st != 200 || conn == "close" {
			t.Fatalf("the legit request: %d %q", st, conn)
		}
		if _, body := up.lastRequest(); string(body) != bodyWithLine {
			t.Fatalf("upstream body %q", body)
		}
		s.send("GET /v1/assets/2 HTTP/1.1\nHost: x\r\n\r\n")
		if st, _, code := s.next(); st != 400 || code != "malformed_request" {
			t.Fatalf("the bare-LF request: %d %q", st, code)
		}
		if got := up.count.Load() - before; got != 1 {
			t.Fatalf("the upstream saw %d requests, want only the legit one", got)
		}
	})

	t.Run("legit keep-alive requests after such a body all pass", func(t *testing.T) {
		s := dialSession(t, g)
		for i := 0; i < 3; i++ {
			s.send(post)
			if st, conn, _ := s.next(); st != 200 || conn == "close" {
				t.Fatalf("request %d: %d %q", i, st, conn)
			}
		}
		s.send("\r\nGET /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
		if st, conn, _ := s.next(); st != 200 || conn == "close" {
			t.Fatalf("a GET with a body, after an empty line: %d %q", st, conn)
		}
		s.send("GET /v1/assets HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		if st, conn, _ := s.next(); st != 200 || conn == "close" {
			t.Fatalf("an HTTP/1.0 keep-alive GET: %d %q", st, conn)
		}
		s.send("GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n")
		if st, conn, _ := s.next(); st != 200 || conn == "close" {
			t.Fatalf("a GET after them: %d %q", st, conn)
		}
	})

	t.Run("pipelined: a bare LF in the second request line is 400, the first answered", func(t *testing.T) {
		before := up.count.Load()
		s := dialSession(t, g)
		s.send("GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/assets/3 HTTP/1.1\nHost: x\r\n\r\n")
		if st, conn, _ := s.next(); st != 200 || conn == "close" {
			t.Fatalf("the first request: %d %q, want 200 and keep-alive", st, conn)
		}
		if st, _, _ := s.next(); st != 400 {
			t.Fatalf("the pipelined bare-LF request: %d, want 400", st)
		}
		if got := up.count.Load() - before; got != 1 {
			t.Fatalf("the upstream saw %d requests, want 1", got)
		}
	})

	t.Run("pipelined: three requests in one write are answered in order on one connection", func(t *testing.T) {
		before := up.count.Load()
		s := dialSession(t, g)
		s.send("GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n" +
			"POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc" +
			"GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n")
		for i := 0; i < 3; i++ {
			if st, conn, _ := s.next(); st != 200 || conn == "close" {
				t.Fatalf("response %d: %d %q, want 200 and keep-alive", i+1, st, conn)
			}
		}
		if got := up.count.Load() - before; got != 3 {
			t.Fatalf("the upstream saw %d requests, want 3", got)
		}
	})

	t.Run("after a chunked request the connection closes", func(t *testing.T) {
		s := dialSession(t, g)
		s.send("POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		if st, conn, _ := s.next(); st != 200 || conn != "close" {
			t.Fatalf("%d %q, want 200 and close", st, conn)
		}
		if _, body := up.lastRequest(); string(body) != "hello" {
			t.Fatalf("upstream body %q", body)
		}
	})
}

// TestHostileRequestLineBareLFOverTLS: the check reads the decrypted bytes
// of a TLS connection the same way.
func TestHostileRequestLineBareLFOverTLS(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	g, _ := tlsGateway(t, ca, up.addr, "off", "")
	c, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, c)
	s.send("GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n")
	if st, conn, _ := s.next(); st != 200 || conn == "close" {
		t.Fatalf("the legit request: %d %q", st, conn)
	}
	s.send("GET /v1/assets HTTP/1.1\nHost: x\r\n\r\n")
	if st, conn, code := s.next(); st != 400 || code != "malformed_request" || conn != "close" {
		t.Fatalf("the bare-LF request: %d %q %q", st, code, conn)
	}
	if n := up.count.Load(); n != 1 {
		t.Fatalf("the upstream saw %d requests, want 1", n)
	}
}
