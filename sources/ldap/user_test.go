package ldap

import (
	"fmt"
	"slices"
	"testing"
)

func TestAnObjectGUIDReadsInItsStandardForm(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"the first three fields are little-endian", []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
			"00112233-4455-6677-8899-aabbccddeeff"},
		{"all zero", make([]byte, 16), "00000000-0000-0000-0000-000000000000"},
		{"a value that is not 16 bytes is shown in hex", []byte{0xde, 0xad}, "dead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guidString(tt.raw); got != tt.want {
				t.Errorf("guidString(%x) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	t.Run("every byte value lands where the formatted form puts it", func(t *testing.T) {
		for v := range 256 {
			b := make([]byte, 16)
			for i := range b {
				b[i] = byte(v + i*17)
			}
			want := fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x", b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:])
			if got := guidString(b); got != want {
				t.Fatalf("guidString(%x) = %q, want %q", b, got, want)
			}
		}
	})
}

func TestGroupNestingIsClosedOverEachGroupOnceHoweverMany(t *testing.T) {
	// A ring of 40 groups, each nested in the next, the last in the first,
	// named in the case the server writes; a user in the first is in all.
	g := &graph{parents: map[string][]string{}, keys: map[string]string{}}
	const n = 40
	name := func(i int) string { return fmt.Sprintf("CN=Group %d,OU=Groups,DC=example,DC=com", i%n) }
	for i := range n {
		g.keys[name(i)] = normDN(name(i))
		g.parents[normDN(name(i))] = []string{name(i + 1)}
	}
	got := g.closure([]string{name(0), "cn=group 0,ou=groups,dc=example,dc=com"})
	want := make([]string, n)
	for i := range want {
		want[i] = name(i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("closure gives %d groups %q, want the %d of the ring once each, in order", len(got), got, n)
	}
}
