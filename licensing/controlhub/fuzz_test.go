package controlhub

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/licensync/licensync/internal/reportcheck"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// FuzzParse feeds any bytes to the users.csv reader. The answer is a file
// or one error naming the file and, for a row, its line, quoting no more
// than a bounded part of the input; the users of a file are whole, and the
// report rows explain writes for them are safe to open in a spreadsheet.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/users/realistic.csv", "testdata/users/duplicates.csv"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("User ID/Email (Required),Display Name,Phone Number,Location,Webex Calling - Professional\n=cmd@x,@SUM(1),-1,+1 212 555 0100,t\n"))
	f.Add([]byte("\n\nUser ID/Email(Required),Webex Calling - Basic [SUB-2] (Suspended)\nx@y,maybe\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		file, err := Parse(bytes.NewReader(data), "users.csv")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "users.csv" || pe.Line < 0 || pe.Line > lines {
				t.Fatalf("error %v (%T), want a ParseError naming users.csv and a line of %d", err, err, lines)
			}
			if n := len(err.Error()); n > 4*maxQuoted+200 {
				t.Fatalf("an error of %d bytes", n)
			}
			return
		}
		seen := map[string]bool{}
		var out bytes.Buffer
		w, err := pass.NewCSVWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range file.Users {
			if !strings.Contains(u.Email, "@") || seen[strings.ToLower(u.Email)] || len(u.Licences) != len(file.Licences) || u.Line < 1 || u.Line > lines {
				t.Fatalf("user %+v of a file with %d licence columns and %d lines", u, len(file.Licences), lines)
			}
			seen[strings.ToLower(u.Email)] = true
			row := pass.Row{Email: u.Email, DisplayName: u.DisplayName, WorkPhone: u.PhoneNumber, Outcome: string(licensing.Skipped),
				Cause: string(licensing.CauseOutOfScope), Detail: "no Calling in users.csv", LocationName: u.Location}
			if err := w.Write(&row); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := reportcheck.Unsafe(out.Bytes(), len(file.Users), "work_phone", "e164"); err != nil {
			t.Fatal(err)
		}
	})
}
