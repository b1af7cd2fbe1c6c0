package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The decoder: go-toml parses the file into a generic tree (tables,
// arrays, strings, integers, floats, booleans, date-times), and decode
// walks that tree into the Config structs by their `toml` tags. Doing the
// typed part here, rather than in go-toml's struct decoder (which stops at
// the first wrong type), lets one run report every wrong type and unknown
// key, each with the entry's index (routes[2].methods), in TOML words.
//
// The walk is generic over field types, so a new field just works:
//   - string, bool, ints, float64, []T, map[string]T, nested structs;
//   - a type with a decodeTOML method decodes itself (Duration, Size);
//   - a string type with an EnumValues method is an enum: its value must be one
//     of EnumValues() (Balance, OnReuse, TLSClientAuth, …);
//   - any other encoding.TextUnmarshaler is given the string.
//
// Strings go through ${NAME} / ${NAME:-default} expansion first.

// valueDecoder is a type that decodes itself from a TOML value of the
// generic tree (string, int64, float64, bool, []any, map[string]any, or a
// date-time). It returns a plain sentence; the decoder adds the place.
type valueDecoder interface {
	decodeTOML(v any) error
}

// Enum is a string type whose values are a fixed set. The decoder refuses
// any other value with the list of allowed ones.
type Enum interface {
	EnumValues() []string
}

var (
	valueDecoderType = reflect.TypeOf((*valueDecoder)(nil)).Elem()
	enumType         = reflect.TypeOf((*Enum)(nil)).Elem()
	textType         = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

type decoder struct {
	file string
	ix   *index
	errs []*Error
	bad  map[string]bool // key paths whose value was refused
	env  func(string) (string, bool)
}

// fail records an error about the value at path.
func (d *decoder) fail(path, format string, args ...any) {
	d.bad[path] = true
	at := d.ix.value(path)
	d.errs = append(d.errs, &Error{d.file, at.line, at.col, path + ": " + fmt.Sprintf(format, args...)})
}

// decodeTree parses data with go-toml into a generic tree. A syntax error
// is returned with its position.
func decodeTree(data []byte, file string) (map[string]any, error) {
	tree := map[string]any{}
	if err := toml.Unmarshal(data, &tree); err != nil {
		if de, ok := err.(*toml.DecodeError); ok {
			line, col := de.Position()
			return nil, &Error{file, line, col, "TOML syntax: " + strings.TrimPrefix(de.Error(), "toml: ")}
		}
		return nil, &Error{file, 1, 1, "TOML syntax: " + err.Error()}
	}
	return tree, nil
}

// value decodes src into dst (settable), naming it path in errors.
func (d *decoder) value(dst reflect.Value, src any, path string) {
	t := dst.Type()
	pt := reflect.PointerTo(t)
	if pt.Implements(valueDecoderType) {
		if s, ok := src.(string); ok {
			var ok2 bool
			if src, ok2 = d.expand(s, path); !ok2 {
				return
			}
		}
		if err := dst.Addr().Interface().(valueDecoder).decodeTOML(src); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	if t.Implements(enumType) && t.Kind() == reflect.String {
		s, ok := d.str(src, path, t)
		if !ok {
			return
		}
		allowed := reflect.Zero(t).Interface().(Enum).EnumValues()
		for _, a := range allowed {
			if s == a {
				dst.SetString(s)
				return
			}
		}
		d.fail(path, "%q is not allowed; write one of %s%s", s, quoteList(allowed), suggest(s, allowed))
		return
	}
	if pt.Implements(textType) && t.Kind() != reflect.String {
		s, ok := d.str(src, path, t)
		if !ok {
			return
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := d.str(src, path, t); ok {
			dst.SetString(s)
		}
	case reflect.Bool:
		b, ok := src.(bool)
		if !ok {
			d.wrongType(path, t, src)
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := src.(int64)
		if !ok {
			d.wrongType(path, t, src)
			return
		}
		if dst.OverflowInt(n) {
			d.fail(path, "%d is too large", n)
			return
		}
		dst.SetInt(n)
	case reflect.Float32, reflect.Float64:
		switch n := src.(type) {
		case int64:
			dst.SetFloat(float64(n))
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				d.fail(path, "must be a finite number")
				return
			}
			dst.SetFloat(n)
		default:
			d.wrongType(path, t, src)
		}
	case reflect.Slice:
		arr, ok := src.([]any)
		if !ok {
			d.wrongType(path, t, src)
			return
		}
		out := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			d.value(out.Index(i), e, path+"["+strconv.Itoa(i)+"]")
		}
		dst.Set(out)
	case reflect.Map:
		tab, ok := src.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			d.wrongType(path, t, src)
			return
		}
		out := reflect.MakeMapWithSize(t, len(tab))
		for _, k := range sortedKeys(tab) {
			e := reflect.New(t.Elem()).Elem()
			d.value(e, tab[k], join(path, k))
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		dst.Set(out)
	case reflect.Struct:
		tab, ok := src.(map[string]any)
		if !ok {
			d.wrongType(path, t, src)
			return
		}
		d.table(dst, tab, path)
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		d.value(e.Elem(), src, path)
		dst.Set(e)
	default:
		d.fail(path, "cannot be set from the file")
	}
}

// table decodes a TOML table into a struct, refusing unknown keys.
func (d *decoder) table(dst reflect.Value, tab map[string]any, path string) {
	t := dst.Type()
	for _, k := range sortedKeys(tab) {
		f, ok := fieldByTag(t, k)
		if !ok {
			kp := join(path, k)
			d.bad[kp] = true
			at := d.ix.nearest(kp)
			d.errs = append(d.errs, &Error{d.file, at.line, at.col, unknownKeyMsg(t, path, k)})
			continue
		}
		d.value(dst.FieldByIndex(f.Index), tab[k], join(path, k))
	}
}

// str returns src as an expanded string, or records a wrong type.
func (d *decoder) str(src any, path string, t reflect.Type) (string, bool) {
	s, ok := src.(string)
	if !ok {
		d.wrongType(path, t, src)
		return "", false
	}
	return d.expand(s, path)
}

func (d *decoder) expand(s, path string) (string, bool) {
	out, err := expandEnv(s, d.env)
	if err != nil {
		d.fail(path, "%v", err)
		return "", false
	}
	return out, true
}

// wrongType says what the key needs, in TOML words, what it holds, and,
// where the fix is mechanical, what to write.
func (d *decoder) wrongType(path string, t reflect.Type, src any) {
	msg := fmt.Sprintf("must be %s, not %s", tomlWant(t), tomlKind(src))
	key := path
	if i := strings.LastIndexAny(key, ".]"); i >= 0 && key[i] == '.' {
		key = key[i+1:]
	}
	if hint := writeHint(t, src); hint != "" && !strings.Contains(key, "[") {
		msg += "; write " + key + " = " + hint
	}
	d.fail(path, "%s", msg)
}

// writeHint is the value the user probably meant, in the type the key needs.
func writeHint(t reflect.Type, src any) string {
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			if s, ok := src.(string); ok {
				return "[" + strconv.Quote(s) + "]"
			}
		}
	case reflect.String:
		switch v := src.(type) {
		case int64, float64, bool:
			return strconv.Quote(fmt.Sprint(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if s, ok := src.(string); ok {
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				return s
			}
		}
	case reflect.Float64:
		if s, ok := src.(string); ok {
			if _, err := strconv.ParseFloat(s, 64); err == nil {
				return s
			}
		}
	case reflect.Bool:
		if s, ok := src.(string); ok && (s == "true" || s == "false") {
			return s
		}
	}
	return ""
}

// tomlKind names a value of the generic tree in TOML words.
func tomlKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the float %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "a date-time"
	}
	return "a value of another type"
}

// tomlWant names what a field type accepts, in TOML words.
func tomlWant(t reflect.Type) string {
	if t.Implements(enumType) {
		return "a string, one of " + quoteList(reflect.Zero(t).Interface().(Enum).EnumValues())
	}
	if w, ok := reflect.Zero(t).Interface().(interface{ tomlWant() string }); ok {
		return w.tomlWant()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		e := t.Elem()
		if e.Kind() == reflect.Struct {
			return "an array of tables"
		}
		w := tomlWant(e)
		w = strings.TrimPrefix(strings.TrimPrefix(w, "an "), "a ")
		return "an array of " + w + "s"
	case reflect.Map, reflect.Struct:
		return "a table"
	}
	return "a value"
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// suggest is "; did you mean X?" when one allowed value is close to s.
func suggest(s string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(s), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
