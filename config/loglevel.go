package config

import "log/slog"

// LogLevel is `[log] level`: the least severe log line written.
type LogLevel string

// The values of LogLevel.
const (
	LevelDebug LogLevel = "debug"
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// LogLevels lists every LogLevel, least severe first.
var LogLevels = []LogLevel{LevelDebug, LevelInfo, LevelWarn, LevelError}

// EnumValues lists the allowed values (for `cobaltgw config-schema`).
func (LogLevel) EnumValues() []string { return []string{"debug", "info", "warn", "error"} }

// Slog is the level as a log/slog level.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LevelDebug:
		return slog.LevelDebug
	case LevelWarn:
		return slog.LevelWarn
	case LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
