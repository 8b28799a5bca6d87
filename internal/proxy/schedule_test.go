package proxy

import (
	"slices"
	"testing"
)

func TestSmoothSchedule(t *testing.T) {
	b := func(n string) *Backend { return &Backend{Name: n} }
	for _, tc := range []struct {
		name    string
		weights []int
		want    []uint16
	}{
		{"80/20 interleaves", []int{80, 20}, []uint16{0, 0, 1, 0, 0}},
		{"equal", []int{1, 1}, []uint16{0, 1}},
		{"5/1/1 as nginx", []int{5, 1, 1}, []uint16{0, 0, 1, 0, 2, 0, 0}},
		{"zero weight never chosen", []int{0, 3}, []uint16{1}},
		{"all zero", []int{0, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vs []Variant
			for i, w := range tc.weights {
				vs = append(vs, Variant{Backend: b(string(rune('a' + i))), Weight: w})
			}
			if got := smoothSchedule(vs); !slices.Equal(got, tc.want) {
				t.Fatalf("schedule %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("scaled to fit keeps shares", func(t *testing.T) {
		vs := []Variant{{Backend: b("a"), Weight: 9973}, {Backend: b("b"), Weight: 7}, {Backend: b("c"), Weight: 4001}}
		seq := smoothSchedule(vs)
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
