// Package reportcheck checks, for tests, that a report CSV is safe to open
// in a spreadsheet. Its rule is written apart from the writers' guard
// (licensing.FormulaCell) so that a test of the guard does not assume it.
package reportcheck

import (
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"
)

// strictE164 is '+', then 2 to 15 digits, the first not 0.
var strictE164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// Unsafe returns an error naming the first cell of the CSV in data that a
// spreadsheet would run: one that starts with '=', '+', '-', '@', a tab or
// a carriage return, unless it is a strict E.164 number in one of the
// phone columns. It also checks that data holds exactly rows records of
// the header's width, so that no value split a row or made one up.
func Unsafe(data []byte, rows int, phone ...string) error {
	r := csv.NewReader(strings.NewReader(string(data)))
	recs, err := r.ReadAll()
	if err != nil {
		return fmt.Errorf("the CSV does not read back: %w", err)
	}
	if len(recs) != rows+1 {
		return fmt.Errorf("%d records, want a header and %d rows", len(recs), rows)
	}
	header := recs[0]
	for i, rec := range recs[1:] {
		for j, cell := range rec {
			if cell == "" || !strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				continue
			}
			isPhone := false
			for _, p := range phone {
				isPhone = isPhone || header[j] == p
			}
			if isPhone && strictE164.MatchString(cell) {
				continue
			}
			return fmt.Errorf("row %d, column %s: %q would run as a formula", i+1, header[j], cell)
		}
	}
	return nil
}
