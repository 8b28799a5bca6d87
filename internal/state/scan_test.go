package state

import "testing"

func TestFold(t *testing.T) {
	tests := []struct{ a, b string }{
		{"admin", "ADMIN"},
		{"backend", "bac\u212aend"}, // Kelvin sign
		{"saved", "\u017faved"},     // long s
	}
	for _, tt := range tests {
		if fold(tt.a) != fold(tt.b) {
			t.Errorf("fold(%q) = %q, fold(%q) = %q; want equal", tt.a, fold(tt.a), tt.b, fold(tt.b))
		}
	}
	if fold("admin") == fold("admix") {
		t.Error("different names fold alike")
	}
}
