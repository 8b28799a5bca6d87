package config

import (
	"fmt"
	"strings"
)

// LookupEnv finds an environment variable, like os.LookupEnv.
type LookupEnv func(name string) (string, bool)

// ExpandEnv expands s as a value of a configuration file is expanded
// (see expandEnv), for a tool that reads a key or two of a file that does
// not load whole.
func ExpandEnv(s string, lookup LookupEnv) (string, error) {
	out, _, err := expandEnv(s, lookup)
	return out, err
}

// expandEnv replaces ${NAME} with the variable's value and ${NAME:-word}
// with its value or, when it is unset or empty, word. "$${" is a literal
// "${". A lone "$" is kept, so that passwords and regular expressions need no
// escaping. An unset variable without a default is an error rather than an
// empty string: an empty address or token is never what was meant.
//
// It reports whether s contained anything to expand.
func expandEnv(s string, lookup LookupEnv) (string, bool, error) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true, nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i])
			b.WriteString("{")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", true, fmt.Errorf("unterminated %q: want ${NAME}", s[i:])
		}
		expr := s[i+2 : i+end]
		s = s[i+end+1:]
		v, err := lookupExpr(expr, lookup)
		if err != nil {
			return "", true, err
		}
		b.WriteString(v)
	}
}

// lookupExpr resolves the inside of one ${...}.
func lookupExpr(expr string, lookup LookupEnv) (string, error) {
	name, def, hasDef := strings.Cut(expr, ":-")
	if !validEnvName(name) {
		return "", fmt.Errorf("invalid variable name %q in ${%s}", name, expr)
	}
	v, ok := lookup(name)
	if hasDef && v == "" {
		return def, nil
	}
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to allow that)", name, name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
