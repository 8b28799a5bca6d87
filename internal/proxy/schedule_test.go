package proxy

import (
	"slices"
	"testing"
)

// TestSplitSchedule: the variants' schedule leaves out those without weight
// or backend and keeps the shares when weights are scaled to fit.
func TestSplitSchedule(t *testing.T) {
	b := func(n string) *Backend { return &Backend{Name: n} }
	for _, tc := range []struct {
		name    string
		weights []int
		want    []int32
	}{
		{"80/20 interleaves", []int{80, 20}, []int32{0, 0, 1, 0, 0}},
		{"equal", []int{1, 1}, []int32{0, 1}},
		{"5/1/1 as nginx", []int{5, 1, 1}, []int32{0, 0, 1, 0, 2, 0, 0}},
		{"zero weight never chosen", []int{0, 3}, []int32{1}},
		{"all zero", []int{0, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vs []Variant
			for i, w := range tc.weights {
				vs = append(vs, Variant{Backend: b(string(rune('a' + i))), Weight: w})
			}
			var st splitState
			if got := st.schedule(vs); !slices.Equal(got, tc.want) {
				t.Fatalf("schedule %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a variant without backend is left out", func(t *testing.T) {
		var st splitState
		if got := st.schedule([]Variant{{Weight: 5}, {Backend: b("b"), Weight: 1}}); !slices.Equal(got, []int32{1}) {
			t.Fatalf("schedule %v", got)
		}
	})
	t.Run("scaled to fit keeps shares", func(t *testing.T) {
		vs := []Variant{{Backend: b("a"), Weight: 9973}, {Backend: b("b"), Weight: 7}, {Backend: b("c"), Weight: 4001}}
		var st splitState
		seq := st.schedule(vs)
		if len(seq) > maxSplitSchedule {
			t.Fatalf("schedule of %d entries", len(seq))
		}
		count := make([]int, 3)
		for _, i := range seq {
			count[i]++
		}
		total := 9973 + 7 + 4001
		for i, v := range vs {
			want := float64(v.Weight) / float64(total)
			got := float64(count[i]) / float64(len(seq))
			if d := got - want; d > 0.001 || d < -0.001 {
				t.Errorf("variant %d: share %.4f, want %.4f", i, got, want)
			}
		}
	})
}
