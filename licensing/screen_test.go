package licensing

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// inventorySample returns valid numbers of every supported region written
// in E.164, the only kind an inventory holds (the service validates what it
// takes; the offline target refuses anything else at seed), starting from
// the regions' example numbers with their last digits varied.
func inventorySample(rng *rand.Rand, perRegion int) []string {
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.VOIP}
	var out []string
	for _, r := range regions {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(r, typ)
			if ex == nil {
				continue
			}
			base := phonenumbers.Format(ex, phonenumbers.E164)
			for range perRegion {
				b := []byte(base)
				for k := 1 + rng.IntN(4); k > 0; k-- {
					b[len(b)-k] = byte('0' + rng.IntN(10))
				}
				if e, err := NormalisePhone(string(b), ""); err == nil && e == string(b) {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// phoneVariants returns what directories make of a number: the inventory's
// own form, the ways people format it, and near misses that are not in the
// inventory or not valid at all.
func phoneVariants(rng *rand.Rand, e164 string) []string {
	out := []string{e164, " " + e164 + " ", e164[1:], "+" + e164, e164 + "1", e164[:len(e164)-1], "+0" + e164[1:]}
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		out = append(out,
			phonenumbers.Format(n, phonenumbers.INTERNATIONAL),
			phonenumbers.Format(n, phonenumbers.NATIONAL),
			phonenumbers.Format(n, phonenumbers.RFC3966),
			strings.ReplaceAll(phonenumbers.Format(n, phonenumbers.INTERNATIONAL), " ", "."),
		)
	}
	// A digit changed anywhere after the country code's first: often still
	// strict E.164, seldom in the inventory, sometimes not valid.
	b := []byte(e164)
	i := 2 + rng.IntN(len(b)-2)
	b[i] = byte('0' + rng.IntN(10))
	out = append(out, string(b), e164+" x12", "+"+strings.Repeat("9", 1+rng.IntN(16)))
	// Random digits in strict E.164 form: mostly invalid numbers.
	d := []byte{'+', byte('1' + rng.IntN(9))}
	for k := 1 + rng.IntN(15); k > 0; k-- {
		d = append(d, byte('0'+rng.IntN(10)))
	}
	return append(out, string(d))
}

func TestScreenTakesAnInventoryNumberAsTheFullParseWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	inventory := inventorySample(rng, 1)
	if len(inventory) < 400 {
		t.Fatalf("only %d inventory numbers were generated", len(inventory))
	}
	in := make(map[string]bool, len(inventory))
	for _, e := range inventory {
		in[e] = true
	}
	var values []string
	for _, e := range inventory {
		values = append(values, phoneVariants(rng, e)...)
	}
	values = append(values, "", "+", "+1", "+12", "+0", "++12125550101", "+1 800 FLOWERS", "+12125550101\n")
	for _, region := range []string{"", "GB"} {
		t.Run("default region "+region, func(t *testing.T) {
			parse := &Policy{DefaultRegion: region, Templates: []Template{{Name: "calling"}}}
			fast := *parse
			var hits atomic.Int64
			fast.Inventory = func(e string) bool {
				if in[e] {
					hits.Add(1)
				}
				return in[e]
			}
			differ := 0
			for _, v := range values {
				u := DirectoryUser{ID: "u1", Email: "ann@corp.example", WorkPhone: v, Enabled: true}
				want, got := parse.Screen(u), fast.Screen(u)
				if !reflect.DeepEqual(got, want) {
					differ++
					if differ <= 5 {
						t.Errorf("work phone %q: with the inventory %+v %+v, parsed %+v %+v", v, got.E164, got.Early, want.E164, want.Early)
					}
				}
			}
			t.Logf("%d values, %d inventory numbers", len(values), len(inventory))
			if differ > 0 {
				t.Fatalf("%d of %d values screen differently with the inventory", differ, len(values))
			}
			// The inventory's own numbers, written as it writes them, are
			// the ones screening takes without a parse.
			if h := hits.Load(); h < int64(len(inventory)) {
				t.Fatalf("the inventory confirmed %d values, fewer than its %d numbers", h, len(inventory))
			}
		})
	}
}
