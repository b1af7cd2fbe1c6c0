package lifecycle

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
)

// fileWatch notices that the config file changed, by polling: every tick
// it stats the path (following symlinks) and, only when the file looks
// different (another inode, size or modification time), reads it and
// compares a SHA-256 of the content with the last one acted on. Polling
// is portable and sees every way a file gets replaced: written in place,
// renamed over by an editor (vim, sed -i), or swapped by Kubernetes'
// ConfigMap volume, which re-points a symlink (inotify on the path would
// miss that one, since the watched inode never changes).
//
// It remembers the content of every attempt, good or bad, so a broken file
// is reported once rather than every second, and an unchanged rewrite
// (touch, a save without edits) triggers nothing.
type fileWatch struct {
	path string
	// settle is how long a change must hold still before it is read: a
	// file caught halfway through a write would otherwise be refused once
	// before its final version is loaded.
	settle time.Duration

	info os.FileInfo
	sum  [sha256.Size]byte
}

func newFileWatch(path string) *fileWatch {
	w := &fileWatch{path: path, settle: 100 * time.Millisecond}
	w.info, _ = os.Stat(path)
	if data, err := os.ReadFile(path); err == nil {
		w.sum = sha256.Sum256(data)
	}
	return w
}

// changed returns the file's new content when it differs from the last
// content seen; ok is false when nothing changed, the file is missing (an
// editor between unlink and create: the next tick looks again), or it is
// still being written.
func (w *fileWatch) changed() (data []byte, ok bool) {
	st, err := os.Stat(w.path)
	if err != nil || sameFile(w.info, st) {
		return nil, false
	}
	if w.settle > 0 {
		time.Sleep(w.settle)
		again, err := os.Stat(w.path)
		if err != nil || !sameFile(st, again) {
			return nil, false
		}
	}
	data, err = os.ReadFile(w.path)
	if err != nil {
		return nil, false
	}
	return data, w.saw(st, data)
}

// saw records data (read at st) as acted on; it reports whether the
// content differs from the previous one. Reloads by SIGHUP call it too,
// so the watcher does not load the same file again.
func (w *fileWatch) saw(st os.FileInfo, data []byte) bool {
	w.info = st
	sum := sha256.Sum256(data)
	if sum == w.sum {
		return false
	}
	w.sum = sum
	return true
}

// sameFile reports whether a and b describe the same unchanged file: the
// same inode (os.SameFile), size and modification time.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// depWatch notices changes of the files the config refers to (TLS
// certificates, keys and CAs, JSON Schemas): with watch = true a rotated
// certificate is picked up like an edit of the config itself (docs/configuration.md
// `tls_key`: "re-read on reload, and when they change if watch = true").
// Only their identity is compared (inode, size, modification time); the
// reload that follows re-reads and validates them all.
type depWatch struct {
	settle time.Duration
	seen   map[string]os.FileInfo
}

// changed stats paths and reports the first one that changed since the
// last call; a path seen for the first time is recorded, not reported. A
// change must hold still for settle, so that a certificate and its key
// written one after the other are read as a pair.
func (d *depWatch) changed(paths []string) string {
	if d.seen == nil {
		d.seen = map[string]os.FileInfo{}
	}
	first := ""
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue // missing for a moment: the next tick looks again
		}
		prev, known := d.seen[p]
		if known && !sameFile(prev, st) && first == "" {
			first = p
		}
		if !known {
			d.seen[p] = st
		}
	}
	if first == "" {
		return ""
	}
	if d.settle > 0 {
		time.Sleep(d.settle)
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			d.seen[p] = st
		}
	}
	return first
}

// depFiles lists the files cfg refers to, and extra (the OpenAPI
// documents the running config was built from); relative names are
// resolved against the config's folder as validation does.
func depFiles(cfg *config.Config, extra ...string) []string {
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		out = append(out, p)
	}
	s := &cfg.Server
	add(s.TLSCert)
	add(s.TLSKey)
	add(s.TLSClientCA)
	for i := range cfg.Upstreams {
		u := &cfg.Upstreams[i]
		add(u.TLSCA)
		add(u.TLSCert)
		add(u.TLSKey)
	}
	for i := range cfg.Routes {
		add(cfg.Routes[i].BodySchema)
	}
	for _, f := range extra {
		add(f)
	}
	return out
}
