package licensing

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

func TestTheInventoryGivesBackEachNumberAsItWasSet(t *testing.T) {
	numbers := []Number{
		{E164: "+12125550101", Extension: "1001", LocationID: "L1", State: "ACTIVE"},
		{E164: "+12125550102", Extension: "1002", LocationID: "L1", State: "ACTIVE", OwnerType: OwnerPlace, OwnerID: "WS-1"},
		{E164: "+442071838750", LocationID: "LON", State: "INACTIVE", OwnerType: OwnerPeople, OwnerID: "P-30"},
		// Not strict E.164: kept as given, under the text it was given as.
		{E164: "+1 212 555 0103", Extension: "1003", LocationID: "L1"},
		{E164: "0207 183 8751", LocationID: "LON"},
	}
	var v Inventory
	for _, n := range numbers {
		v.Set(n)
	}
	tests := []struct {
		name, e164 string
		want       Number
		found      bool
	}{
		{"a number in E.164 comes back whole", "+12125550102", numbers[1], true},
		{"a number of another country comes back whole", "+442071838750", numbers[2], true},
		{"a number set as formatted text is found by that text", "+1 212 555 0103", numbers[3], true},
		{"a number set without a plus is found by that text", "0207 183 8751", numbers[4], true},
		{"the E.164 form of a number set formatted is another number", "+12125550103", Number{}, false},
		{"a number that was never set is not there", "+12125550199", Number{}, false},
		{"a leading zero is not taken for the number without it", "+012125550101", Number{}, false},
		{"the empty number is not there", "", Number{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found := v.Get(tc.e164)
			if got != tc.want || found != tc.found {
				t.Fatalf("Get(%q) = %+v, %v; want %+v, %v", tc.e164, got, found, tc.want, tc.found)
			}
			if v.Has(tc.e164) != tc.found {
				t.Fatalf("Has(%q) = %v, want %v", tc.e164, !tc.found, tc.found)
			}
		})
	}
	if v.Len() != len(numbers) {
		t.Fatalf("Len() = %d, want %d", v.Len(), len(numbers))
	}
	var all []string
	for n := range v.All() {
		got, _ := v.Get(n.E164)
		if got != n {
			t.Errorf("All yielded %+v, Get gives %+v", n, got)
		}
		all = append(all, n.E164)
	}
	slices.Sort(all)
	if want := []string{"+1 212 555 0103", "+12125550101", "+12125550102", "+442071838750", "0207 183 8751"}; !slices.Equal(all, want) {
		t.Fatalf("All yielded %q, want %q", all, want)
	}
}

func TestSettingANumberAgainReplacesItsEntry(t *testing.T) {
	var v Inventory
	v.Set(Number{E164: "+12125550101", Extension: "1001", LocationID: "L1", State: "ACTIVE"})
	v.Set(Number{E164: "+12125550101", Extension: "1001", LocationID: "L1", State: "ACTIVE", OwnerType: OwnerPeople, OwnerID: "P1"})
	got, _ := v.Get("+12125550101")
	if got.OwnerType != OwnerPeople || got.OwnerID != "P1" || v.Len() != 1 {
		t.Fatalf("after setting it again: %+v, %d numbers", got, v.Len())
	}
}

func TestTheInventoryKeepsANumberInUnderEightyBytes(t *testing.T) {
	const count = 200000
	numbers := make([]Number, count)
	for i := range numbers {
		numbers[i] = Number{E164: fmt.Sprintf("+1212%07d", i), Extension: fmt.Sprint(100000 + i), LocationID: "LOC-1", State: "ACTIVE"}
	}
	before := liveHeap()
	var v Inventory
	for _, n := range numbers {
		v.Set(n)
	}
	perNumber := float64(liveHeap()-before) / count
	runtime.KeepAlive(&v)
	runtime.KeepAlive(numbers)
	t.Logf("%.0f bytes a number", perNumber)
	// A map of the six strings took 230 bytes a number; the extensions'
	// text is shared with numbers here, the rows and the index are counted.
	if perNumber > 80 {
		t.Fatalf("the inventory takes %.0f bytes a number, want at most 80", perNumber)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
