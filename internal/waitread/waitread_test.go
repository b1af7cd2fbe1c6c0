package waitread

import (
	"io"
	"net"
	"testing"
	"time"
)

func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// An armed read sees an answer that arrives before it, one that arrives
// after it, the peer's close as io.EOF and its deadline as a timeout.
func TestArmedRead(t *testing.T) {
	c, s := pair(t)
	var r Reader
	buf := make([]byte, 16)

	r.Arm()
	if _, err := s.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if n, err := r.Read(c, buf); err != nil || string(buf[:n]) != "early" {
		t.Fatalf("answer before the read: %q, %v", buf[:n], err)
	}

	r.Arm()
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = s.Write([]byte("late"))
	}()
	if n, err := r.Read(c, buf); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("answer after the read: %q, %v", buf[:n], err)
	}

	r.Arm()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(c, buf); err == nil {
		t.Fatal("read past its deadline: no error")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	s.Close()
	r.Arm()
	if _, err := r.Read(c, buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
}

// Arm may race with Read (a tunnel's two directions); run with -race.
func TestArmConcurrent(t *testing.T) {
	c, s := pair(t)
	var r Reader
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1)
		for i := 0; i < 100; i++ {
			if _, err := r.Read(c, buf); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		r.Arm()
		_, _ = s.Write([]byte{'x'})
	}
	<-done
}
