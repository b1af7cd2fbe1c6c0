// Package redistest starts real redis-server processes for tests: one
// standalone server (Start) or a Redis Cluster of several masters
// (StartCluster). Servers bind 127.0.0.1 on a free port, keep nothing on
// disk (--save "" --appendonly no, working directory in t.TempDir()) and are
// stopped by t.Cleanup. When redis-server is not on PATH the test is
// skipped, so `go test ./...` passes on a machine without Redis; CI
// installs it (apt-get install redis-server) and runs them.
//
// The package speaks just enough RESP (Do) to wait for readiness and to let
// tests inspect a server (INFO, CLUSTER INFO, FLUSHALL) without a client
// library.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process on 127.0.0.1.
type Server struct {
	t     testing.TB
	port  int
	dir   string
	extra []string // arguments after the common ones (cluster mode)
	// password is what Do authenticates with (RequirePass).
	password atomic.Pointer[string]

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File // redis-server's log, shown when it fails to start
}

// skipWithoutRedis skips t when redis-server is not installed.
func skipWithoutRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: apt-get install redis-server")
	}
}

// Start starts a standalone redis-server on a free port and waits until it
// answers PING. It is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	skipWithoutRedis(t)
	s := &Server{t: t, port: freePort(t), dir: t.TempDir()}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("redistest: server on %s is already running", s.Addr())
	}
	s.password.Store(nil) // a new server has no password
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", "",
		"--daemonize", "no",
	}
	args = append(args, s.extra...)
	out, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr() // killed with the test binary (Linux)
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd, s.out = cmd, out
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := s.do(200*time.Millisecond, "PING")
		if err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			s.t.Fatalf("redistest: redis-server on %s did not answer PING within %v (last: %q, %v)\n%s",
				s.Addr(), startTimeout, reply, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: nothing is saved, as after a crash) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	_ = s.out.Close()
	s.cmd, s.out = nil, nil
}

// Restart stops the server and starts a new, empty one on the same port,
// so a client that kept its address can show that it recovers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Pause stops the process with SIGSTOP: connections stay open and requests
// get no answer, as with a hung or partitioned server. Resume continues it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: server on %s is not running", s.Addr())
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Do sends one command and returns its reply as text: a simple or bulk
// string as is, an integer in decimal, an array as its elements joined by
// newlines (nested arrays flattened). An error reply is returned as an
// error. It fails the test only for I/O errors.
func (s *Server) Do(args ...string) (string, error) {
	s.t.Helper()
	reply, err := s.do(5*time.Second, args...)
	var re replyError
	if err != nil && !errors.As(err, &re) {
		s.t.Fatalf("redistest: %s %v: %v", s.Addr(), args, err)
	}
	return reply, err
}

// Info returns one field of INFO (for example "cmdstat_evalsha" of section
// "commandstats"), or "" when the server does not report it.
func (s *Server) Info(section, field string) string {
	s.t.Helper()
	info, err := s.Do("INFO", section)
	if err != nil {
		s.t.Fatalf("redistest: INFO %s: %v", section, err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// replyError is an error reply from the server (-ERR ...).
type replyError string

func (e replyError) Error() string { return string(e) }

func (s *Server) do(timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	auth := false
	if p := s.password.Load(); p != nil && *p != "" {
		fmt.Fprintf(&b, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(*p), *p)
		auth = true
	}
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	if auth {
		if _, err := readReply(br); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	return readReply(br)
}

// RequirePass makes the server require password (CONFIG SET requirepass)
// and closes every client connection, so that clients must authenticate
// again; Do authenticates with it from then on.
func (s *Server) RequirePass(password string) {
	s.t.Helper()
	if _, err := s.Do("CONFIG", "SET", "requirepass", password); err != nil {
		s.t.Fatalf("redistest: CONFIG SET requirepass: %v", err)
	}
	s.password.Store(&password)
	if _, err := s.Do("CLIENT", "KILL", "TYPE", "normal"); err != nil {
		s.t.Fatalf("redistest: CLIENT KILL: %v", err)
	}
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", replyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err // $-1: nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("redistest: unexpected reply %q", line)
}

// freePort asks the kernel for a free port. Another process could take it
// before redis-server binds it; the window is small and start then fails
// loudly rather than testing the wrong server.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
