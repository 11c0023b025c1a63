package pass

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// fill sets every field reachable from v to a value that differs from its
// zero value and from every other field's, so a field the spill forgets
// reads back different.
func fill(v reflect.Value, n *int) {
	switch v.Kind() {
	case reflect.String:
		*n++
		v.SetString(fmt.Sprintf("value %d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		*n++
		v.SetInt(int64(-*n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	default:
		panic("fill: add a case for " + v.Kind().String() + " and write it in the spill")
	}
}

func TestSpillRoundTripsEveryField(t *testing.T) {
	var full licensing.Screened
	var fullEntry PlanEntry
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	fill(reflect.ValueOf(&fullEntry).Elem(), &n)
	tests := []struct {
		name    string
		screen  licensing.Screened
		entry   PlanEntry
		entries bool
	}{
		{name: "a screened user with every field set reads back whole", screen: full},
		{name: "a screened user with no early decision and no template reads back whole", screen: licensing.Screened{User: licensing.DirectoryUser{ID: "u1", Email: "a@example.com"}, Template: -1}},
		{name: "a plan entry with every field set reads back whole", entry: fullEntry, entries: true},
		{name: "a plan entry with no change and no workspace reads back whole", entry: PlanEntry{Decision: licensing.Decision{Outcome: licensing.Failed, Cause: licensing.CauseInvalidE164}}, entries: true},
		{name: "a plan entry with empty lists reads them back as none", entry: PlanEntry{Holds: []string{}, Decision: licensing.Decision{Licences: []string{}}}, entries: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := newSpillWriter(&buf)
			for range 3 {
				var err error
				if tt.entries {
					err = w.entry(&tt.entry)
				} else {
					err = w.screened(&tt.screen)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			r := newSpillReader(&buf)
			for i := range 3 {
				var got, want any
				var err error
				if tt.entries {
					want = tt.entry
					if len(tt.entry.Holds) == 0 {
						e := tt.entry
						e.Holds, e.Decision.Licences = nil, nil
						want = e
					}
					got, err = r.entry()
				} else {
					want = tt.screen
					got, err = r.screened()
				}
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if _, err := r.screened(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last record: %v, want io.EOF", err)
			}
		})
	}
}

func TestASpillCutShortIsAnErrorNotTheEnd(t *testing.T) {
	var buf bytes.Buffer
	w := newSpillWriter(&buf)
	u := licensing.Screened{User: licensing.DirectoryUser{ID: "u1", Email: "a@example.com", Groups: []string{"Calling"}}, E164: "+14155550100"}
	if err := w.screened(&u); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	for cut := 1; cut < len(whole); cut++ {
		_, err := newSpillReader(bytes.NewReader(whole[:cut])).screened()
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("cut at byte %d of %d: %v, want an error that is not io.EOF", cut, len(whole), err)
		}
	}
	// A length that runs past its record is caught by the field, not read
	// from the next record.
	bad := bytes.Clone(whole)
	bad[1] = 0x7f
	if _, err := newSpillReader(bytes.NewReader(bad)).screened(); !errors.Is(err, errSpill) {
		t.Fatalf("a field longer than its record: %v, want errSpill", err)
	}
	if _, err := newSpillReader(strings.NewReader("\xff\xff\xff\xff\x7f")).screened(); !errors.Is(err, errSpill) {
		t.Fatalf("a record of gigabytes: %v, want errSpill", err)
	}
}
