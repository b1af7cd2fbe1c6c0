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

// A reload's [log] applies to the logger and to loggers derived from it.
func TestApplyLogSwitchesFormatAndLevel(t *testing.T) {
	var b bytes.Buffer
	cfg := config.Defaults()
	cfg.Log.Format, cfg.Log.Level = config.LogJSON, config.LevelInfo
	l := NewLogger(&cfg, &b)
	derived := l.With("upstream", "api")
	derived.Debug("d-hidden")
	next := cfg
	next.Log.Format, next.Log.Level = config.LogText, config.LevelDebug
	applyLog(l, &next)
	derived.Debug("d-shown")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "time=") || !strings.Contains(lines[0], `msg=d-shown upstream=api`) {
		t.Fatalf("after the switch to text at debug: %q", b.String())
	}
	b.Reset()
	applyLog(l, &cfg)
	derived.Debug("d-hidden-again")
	derived.Info("i-json")
	if got := b.String(); !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"i-json","upstream":"api"`) || strings.Contains(got, "d-hidden") {
		t.Fatalf("after the switch back to json at info: %q", got)
	}
}
