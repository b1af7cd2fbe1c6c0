package lifecycle

import (
	"io"
	"log/slog"

	"github.com/cobaltgw/cobaltgw/config"
)

// NewLogger is the process's logger: `[log] format` (json or text) at
// `[log] level`. Both take effect at start.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level.Slog()}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
