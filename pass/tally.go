package pass

import "slices"

// tally counts 64-bit keys in little memory: while a pass reads, each key is
// appended (8 bytes, against a map's several times that at a million
// users); settle then sorts them once and keeps only the keys met more than
// once, usually few. Claimed numbers and record ids and emails are counted
// this way.
type tally struct {
	all  []uint64
	many map[uint64]int32
}

func (t *tally) add(k uint64) { t.all = append(t.all, k) }

// settle ends the counting: only the keys met more than once stay.
func (t *tally) settle() {
	slices.Sort(t.all)
	t.many = map[uint64]int32{}
	for i := 0; i < len(t.all); {
		j := i + 1
		for j < len(t.all) && t.all[j] == t.all[i] {
			j++
		}
		if j-i > 1 {
			t.many[t.all[i]] = int32(j - i)
		}
		i = j
	}
	t.all = nil
}

// count returns how many times k was met, once settled: at least one.
func (t *tally) count(k uint64) int {
	if n := t.many[k]; n > 1 {
		return int(n)
	}
	return 1
}
