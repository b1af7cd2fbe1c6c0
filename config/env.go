package config

import (
	"fmt"
	"os"
	"strings"
)

// expandEnv expands environment references in a string value of the file
// (docs/configuration.md, "Environment"):
//
//	${NAME}            the variable's value; an unset NAME is an error
//	${NAME:-default}   the value, or default when NAME is unset or empty
//	$${                a literal "${"
//
// Only the braced form with a valid name is expanded, so a lone '$' in a
// password or URL stays as written.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${": a literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		ref := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			return "", fmt.Errorf("${%s} is not set in the environment; set it, or write ${%s:-default} to give a default", name, name)
		}
		b.WriteString(val)
		s = s[i+j+1:]
	}
}

// ExpandEnv expands ${NAME} and ${NAME:-default} in s from the process
// environment, as the file's string values are.
func ExpandEnv(s string) (string, error) { return expandEnv(s, os.LookupEnv) }

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
