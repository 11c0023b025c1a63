// Package synth writes a synthetic directory and calling organisation of N
// users for benchmarks: mostly provisionable users, mixed with invalid,
// duplicate, foreign-owned and unknown numbers, missing people, disabled and
// out-of-scope accounts, in fixed proportions and a fixed order.
package synth

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
)

type csvFile struct {
	f *os.File
	b *bufio.Writer
	w *csv.Writer
}

func create(path string, header ...string) (*csvFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	b := bufio.NewWriterSize(f, 1<<20)
	c := &csvFile{f: f, b: b, w: csv.NewWriter(b)}
	return c, c.w.Write(header)
}

func (c *csvFile) row(r ...string) { _ = c.w.Write(r) }

func (c *csvFile) close() error {
	c.w.Flush()
	if err := c.b.Flush(); err != nil {
		return err
	}
	return c.f.Close()
}

// exchanges are the New York exchanges the synthetic numbers use: 201-999
// without the N11 service codes.
var exchanges = func() []int {
	var out []int
	for ex := 201; ex <= 999; ex++ {
		if ex%100 != 11 {
			out = append(out, ex)
		}
	}
	return out
}()

// number returns the i-th synthetic New York number (lines 0000-9999 of
// each exchange in turn: 7.9 million numbers).
func number(i int) string {
	return fmt.Sprintf("+1212%03d%04d", exchanges[i/10000], i%10000)
}

func Write(n int, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "org"), 0o755); err != nil {
		return err
	}
	users, err := create(filepath.Join(dir, "directory.csv"), "id", "email", "display_name", "work_phone", "enabled", "groups")
	if err != nil {
		return err
	}
	people, _ := create(filepath.Join(dir, "org", "people.csv"), "id", "email", "display_name", "licenses", "phone_number", "location_id")
	numbers, _ := create(filepath.Join(dir, "org", "numbers.csv"), "phone_number", "extension", "location_id", "state", "owner_type", "owner_id")
	locs, _ := create(filepath.Join(dir, "org", "locations.csv"), "id", "name", "calling_enabled")
	lics, _ := create(filepath.Join(dir, "org", "licenses.csv"), "id", "name", "subscription_id", "total_units", "consumed_units", "status")
	locs.row("LOC-1", "New York", "true")
	locs.row("LOC-LAB", "Lab", "false")
	lics.row("LIC-PRO", "Webex Calling - Professional", "SUB-1", fmt.Sprint(n), "0", "ACTIVE")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("u%07d", i)
		email := fmt.Sprintf("user%07d@corp.example", i)
		phone := number(i)
		enabled, groups := "true", "Calling Users"
		person, inInventory, owner := true, true, ""
		switch i % 100 {
		case 0, 1, 2, 3, 4: // a spreadsheet stripped the '+'
			phone = phone[1:]
		case 5, 6: // duplicates: both carry the number of the first
			phone = number(i - i%100 + 5)
		case 7, 8, 9:
			owner = "PLACE"
		case 10, 11, 12:
			inInventory = false
		case 13, 14:
			person = false
		case 15, 16:
			enabled = "false"
		case 17, 18:
			groups = "Sales"
		}
		users.row(id, email, fmt.Sprintf("User %07d", i), phone, enabled, groups)
		if person {
			people.row(fmt.Sprintf("P%07d", i), email, fmt.Sprintf("User %07d", i), "", "", "")
		}
		if inInventory && i%100 != 6 {
			e := number(i)
			ot, oid := "", ""
			if owner != "" {
				ot, oid = owner, "WS-"+id
			}
			numbers.row(e, fmt.Sprint(100000+i), "LOC-1", "ACTIVE", ot, oid)
		}
	}
	for _, c := range []*csvFile{users, people, numbers, locs, lics} {
		if err := c.close(); err != nil {
			return err
		}
	}
	cfg := `state: state/licensync.db
report_dir: reports
source: {kind: file, file: {path: directory.csv}}
target: {kind: offline, offline: {path: state/org.db, seed: org}}
templates:
  - name: calling
    groups: [Calling Users]
    licenses:
      - {name: Webex Calling - Professional, subscription: SUB-1}
`
	return os.WriteFile(filepath.Join(dir, "licensync.yaml"), []byte(cfg), 0o644)
}
