package lifecycle

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cobaltgw/cobaltgw/config"
)

// NewLogger is the process's logger: `[log] format` (json or text) at
// `[log] level`. A reload changes both (applyLog): lines written after it
// use the new format and level.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	lw := &lockedWriter{w: w}
	c := &logControl{}
	opts := &slog.HandlerOptions{Level: &c.level}
	h := &logHandler{c: c, json: slog.NewJSONHandler(lw, opts), text: slog.NewTextHandler(lw, opts)}
	c.apply(cfg.Log)
	return slog.New(h)
}

// applyLog gives log's handler the [log] format and level of cfg; a
// logger NewLogger did not make is left as it is.
func applyLog(log *slog.Logger, cfg *config.Config) {
	if h, ok := log.Handler().(*logHandler); ok {
		h.c.apply(cfg.Log)
	}
}

// logControl is the running format and level, shared by a logger and
// every logger derived from it (With, WithGroup).
type logControl struct {
	level slog.LevelVar
	text  atomic.Bool
}

func (c *logControl) apply(l config.Log) {
	c.level.Set(l.Level.Slog())
	c.text.Store(l.Format == config.LogText)
}

// logHandler holds a JSON and a text handler built alike (same writer,
// same level, the same attributes and groups) and writes each record with
// the one the running format names: one atomic load per line, no
// allocation of its own. Both inner handlers check the shared LevelVar.
type logHandler struct {
	c          *logControl
	json, text slog.Handler
}

func (h *logHandler) cur() slog.Handler {
	if h.c.text.Load() {
		return h.text
	}
	return h.json
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.c.level.Level()
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.cur().Handle(ctx, r)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{c: h.c, json: h.json.WithAttrs(as), text: h.text.WithAttrs(as)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{c: h.c, json: h.json.WithGroup(name), text: h.text.WithGroup(name)}
}

// lockedWriter serializes the two handlers' writes, which each lock only
// their own mutex: a line written just as the format changes must not
// interleave with one written by the other handler.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
