package licensing

import (
	"iter"
	"strconv"
)

// Inventory is the calling number inventory, keyed by number. A pass holds
// all of it from the snapshot to the last decision, so it is kept compact:
// a map of six strings per number took 230 bytes a number, most of a
// million-user pass's memory. A number written in E.164 is keyed by its
// digits, and the location ids, states and owner types, which repeat, are
// kept once: about 70 bytes a number. The zero value is empty and ready.
// Reads may run in parallel; Set may not run alongside anything.
type Inventory struct {
	// at maps a number's digits to its row; rows come in blocks that never
	// move, so a growing inventory copies none and wastes no capacity.
	at   map[uint64]int32
	rows [][]inventoryRow
	n    int32
	// words are the distinct location ids, states and owner types, and
	// word their index in words.
	words []string
	word  map[string]uint32
	// other holds the numbers not written in strict E.164, as given.
	other map[string]Number
}

const rowBlock = 4096

type inventoryRow struct {
	extension, ownerID         string
	location, state, ownerType uint32
}

// digitsKey returns the key of a number written in strict E.164.
func digitsKey(e164 string) (uint64, bool) {
	if !strictE164(e164) {
		return 0, false
	}
	k, err := strconv.ParseUint(e164[1:], 10, 64)
	return k, err == nil
}

// Get returns the inventory's entry for the number e164.
func (v *Inventory) Get(e164 string) (Number, bool) {
	k, ok := digitsKey(e164)
	if !ok {
		n, found := v.other[e164]
		return n, found
	}
	i, found := v.at[k]
	if !found {
		return Number{}, false
	}
	r := v.row(i)
	return Number{E164: e164, Extension: r.extension, LocationID: v.words[r.location], State: v.words[r.state],
		OwnerType: v.words[r.ownerType], OwnerID: r.ownerID}, true
}

// Has reports whether the number e164 is in the inventory.
func (v *Inventory) Has(e164 string) bool {
	if k, ok := digitsKey(e164); ok {
		_, found := v.at[k]
		return found
	}
	_, found := v.other[e164]
	return found
}

// Set adds the number n, or replaces the entry of the same number.
func (v *Inventory) Set(n Number) {
	k, ok := digitsKey(n.E164)
	if !ok {
		if v.other == nil {
			v.other = map[string]Number{}
		}
		v.other[n.E164] = n
		return
	}
	r := inventoryRow{extension: n.Extension, ownerID: n.OwnerID,
		location: v.intern(n.LocationID), state: v.intern(n.State), ownerType: v.intern(n.OwnerType)}
	if i, found := v.at[k]; found {
		*v.row(i) = r
		return
	}
	if v.at == nil {
		v.at = map[uint64]int32{}
	}
	if v.n%rowBlock == 0 {
		v.rows = append(v.rows, make([]inventoryRow, 0, rowBlock))
	}
	last := &v.rows[len(v.rows)-1]
	*last = append(*last, r)
	v.at[k] = v.n
	v.n++
}

func (v *Inventory) row(i int32) *inventoryRow { return &v.rows[i/rowBlock][i%rowBlock] }

func (v *Inventory) intern(s string) uint32 {
	if i, ok := v.word[s]; ok {
		return i
	}
	if v.word == nil {
		v.word = map[string]uint32{}
	}
	i := uint32(len(v.words))
	v.words = append(v.words, s)
	v.word[s] = i
	return i
}

// Len returns how many numbers the inventory holds.
func (v *Inventory) Len() int { return len(v.at) + len(v.other) }

// All yields every entry, in no particular order.
func (v *Inventory) All() iter.Seq[Number] {
	return func(yield func(Number) bool) {
		for k := range v.at {
			n, _ := v.Get("+" + strconv.FormatUint(k, 10))
			if !yield(n) {
				return
			}
		}
		for _, n := range v.other {
			if !yield(n) {
				return
			}
		}
	}
}
