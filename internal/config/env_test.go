package config

import "testing"

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"HOST": "10.0.0.5", "PORT": "8080", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name     string
		in       string
		want     string
		expanded bool
		wantErr  bool
	}{
		{name: "nothing", in: "plain", want: "plain"},
		{name: "lone dollar kept", in: "pa$$word$", want: "pa$$word$"},
		{name: "one variable", in: "${HOST}", want: "10.0.0.5", expanded: true},
		{name: "two variables", in: "${HOST}:${PORT}", want: "10.0.0.5:8080", expanded: true},
		{name: "default when unset", in: "${NOPE:-x}", want: "x", expanded: true},
		{name: "default when empty", in: "${EMPTY:-y}", want: "y", expanded: true},
		{name: "set but empty", in: "a${EMPTY}b", want: "ab", expanded: true},
		{name: "escaped", in: "$${HOST}", want: "${HOST}", expanded: true},
		{name: "unset", in: "${NOPE}", wantErr: true},
		{name: "unterminated", in: "${HOST", wantErr: true},
		{name: "bad name", in: "${1X}", wantErr: true},
		{name: "empty name", in: "${}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, expanded, err := expandEnv(tt.in, lookup)
			if (err != nil) != tt.wantErr {
				t.Fatalf("expandEnv(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want || expanded != tt.expanded {
				t.Errorf("expandEnv(%q) = %q, %v, want %q, %v", tt.in, got, expanded, tt.want, tt.expanded)
			}
		})
	}
}
