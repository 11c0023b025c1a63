package pass

import (
	"strconv"
	"strings"
)

// claimCounts counts the directory users per number. Each claimed number
// is kept as its digits: E.164 has at most 15, so they fit in 64 bits.
type claimCounts struct{ tally }

func claimKey(e164 string) uint64 {
	k, _ := strconv.ParseUint(strings.TrimPrefix(e164, "+"), 10, 64)
	return k
}

func (c *claimCounts) add(e164 string) { c.tally.add(claimKey(e164)) }

// of returns how many users claim the number e164, once settled: at least
// one, the user asking.
func (c *claimCounts) of(e164 string) int { return c.count(claimKey(e164)) }
