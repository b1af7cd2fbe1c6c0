package lifecycle

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cobaltgw/cobaltgw/config"
)

func TestNewLoggerLevel(t *testing.T) {
	for _, tc := range []struct {
		level      config.LogLevel
		info, warn bool
	}{{config.LevelDebug, true, true}, {config.LevelInfo, true, true}, {config.LevelWarn, false, true}, {config.LevelError, false, false}} {
		var b bytes.Buffer
		cfg := config.Defaults()
		cfg.Log.Level = tc.level
		l := NewLogger(&cfg, &b)
		l.Info("i-line")
		l.Warn("w-line")
		if strings.Contains(b.String(), "i-line") != tc.info || strings.Contains(b.String(), "w-line") != tc.warn {
			t.Errorf("level %s wrote %q", tc.level, b.String())
		}
	}
}
