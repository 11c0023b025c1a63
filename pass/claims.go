package pass

import (
	"slices"
	"strconv"
	"strings"
)

// claimCounts counts the directory users per number. Screening keeps each
// claimed number as its digits (E.164 has at most 15, so they fit in 64
// bits), 8 bytes a user against a map's 24 at a million users; settle then
// sorts them once and keeps only the numbers claimed more than once, as
// recordKeys does for ids and emails.
type claimCounts struct {
	all  []uint64
	many map[uint64]int32
}

func claimKey(e164 string) uint64 {
	k, _ := strconv.ParseUint(strings.TrimPrefix(e164, "+"), 10, 64)
	return k
}

func (c *claimCounts) add(e164 string) { c.all = append(c.all, claimKey(e164)) }

// settle ends the counting: only the numbers claimed more than once stay.
func (c *claimCounts) settle() {
	slices.Sort(c.all)
	c.many = map[uint64]int32{}
	for i := 0; i < len(c.all); {
		j := i + 1
		for j < len(c.all) && c.all[j] == c.all[i] {
			j++
		}
		if j-i > 1 {
			c.many[c.all[i]] = int32(j - i)
		}
		i = j
	}
	c.all = nil
}

// of returns how many users claim the number e164, once settled: at least
// one, the user asking.
func (c *claimCounts) of(e164 string) int {
	if n := c.many[claimKey(e164)]; n > 1 {
		return int(n)
	}
	return 1
}
