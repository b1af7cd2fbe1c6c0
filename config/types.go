package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a Go duration string in the file ("250ms", "24h").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		hint := ""
		if _, nerr := strconv.ParseFloat(string(b), 64); nerr == nil {
			hint = fmt.Sprintf(" (a unit is required: write \"%ss\")", b)
		}
		return fmt.Errorf("%q is not a duration%s; write a string such as \"250ms\", \"30s\" or \"24h\"", b, hint)
	}
	*d = Duration(v)
	return nil
}

// decodeTOML accepts only a string: a bare number would be ambiguous
// (read_timeout = 10 meant as seconds would otherwise be 10ns), so it is
// refused with the string to write instead.
func (d *Duration) decodeTOML(v any) error {
	switch x := v.(type) {
	case string:
		return d.UnmarshalText([]byte(x))
	case int64:
		return fmt.Errorf("durations are strings with a unit, not the integer %d; write \"%ds\"", x, x)
	case float64:
		return fmt.Errorf("durations are strings with a unit, not the float %v; write \"%vs\"", x, x)
	}
	return fmt.Errorf("must be a duration string such as \"10s\", not %s", tomlKind(v))
}

func (Duration) tomlWant() string { return "a duration string such as \"10s\"" }

// MarshalText writes the duration back as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// EjectOn is [[upstreams]].eject_on: which answers of a target count
// towards its passive ejection (README.md "Upstreams"). The upstream
// package owns the rule; the type only spells the values.
type EjectOn string

const (
	// EjectOnGatewayErrors counts connect errors, resets, timeouts and the
	// gateway statuses 502, 503 and 504, not an application's 500.
	EjectOnGatewayErrors EjectOn = "gateway_errors"
	// EjectOn5xx counts those and every 5xx status.
	EjectOn5xx EjectOn = "5xx"
)

// EnumValues lists the allowed spellings (the decoder refuses others).
func (EjectOn) EnumValues() []string {
	return []string{string(EjectOnGatewayErrors), string(EjectOn5xx)}
}

// Size is a byte count: a plain integer, or a string with a unit ("16KiB",
// "1MiB"; KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024).
type Size int64

// UnmarshalText parses a size string with a unit; a plain TOML integer
// decodes into the int64 directly.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// decodeTOML accepts a byte count (integer) or a string with a unit.
func (s *Size) decodeTOML(v any) error {
	switch x := v.(type) {
	case string:
		return s.UnmarshalText([]byte(x))
	case int64:
		if x < 0 {
			return fmt.Errorf("%d is negative; write a byte count or a size such as \"1MiB\"", x)
		}
		*s = Size(x)
		return nil
	}
	return fmt.Errorf("must be a size such as \"16KiB\" or a byte count, not %s", tomlKind(v))
}

func (Size) tomlWant() string { return "a size such as \"16KiB\" or a byte count" }

// MarshalText writes the size as a plain byte count.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }

// OptionalSize is a Size that may be left empty ("" or absent): zero then
// means "inherit", as a route's max_body_bytes inherits [server]'s.
type OptionalSize int64

// UnmarshalText parses like Size and takes "" as 0.
func (s *OptionalSize) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "" {
		*s = 0
		return nil
	}
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = OptionalSize(v)
	return nil
}

// decodeTOML takes "" as unset, else decodes like Size.
func (s *OptionalSize) decodeTOML(v any) error {
	if x, ok := v.(string); ok && strings.TrimSpace(x) == "" {
		*s = 0
		return nil
	}
	var z Size
	if err := z.decodeTOML(v); err != nil {
		return err
	}
	*s = OptionalSize(z)
	return nil
}

func (OptionalSize) tomlWant() string { return "a size such as \"2GiB\", a byte count, or \"\"" }

// MarshalText writes the size as a plain byte count, or "" when unset.
func (s OptionalSize) MarshalText() ([]byte, error) {
	if s == 0 {
		return []byte{}, nil
	}
	return []byte(strconv.FormatInt(int64(s), 10)), nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseSize parses "16KiB", "1MiB", "1048576" and the like.
func ParseSize(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size; write a byte count such as 1048576 or a string with a unit such as \"16KiB\" or \"1MiB\"", s)
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	t = strings.ReplaceAll(t, "_", "")
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, bad
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}
