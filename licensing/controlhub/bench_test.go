package controlhub

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// benchExport is a Control Hub export of MaxImportRows users with twelve
// licence columns and a few others, the size of the largest file one
// import takes.
func benchExport() []byte {
	var b bytes.Buffer
	b.WriteString("\ufeffFirst Name,Last Name,Display Name,User ID/Email (Required),User Status,Phone Number,Extension,Location,Department")
	for i := range 12 {
		fmt.Fprintf(&b, ",Webex Calling - Professional [SUB-%d]", i)
	}
	b.WriteString("\r\n")
	for i := range MaxImportRows {
		fmt.Fprintf(&b, "First%d,Last%d,\"Last%d, First%d\",user%d@corp.example,Active,+1212%07d,%d,New York,Sales", i, i, i, i, i, i, i%10000)
		for j := range 12 {
			if j == i%12 {
				b.WriteString(",TRUE")
			} else {
				b.WriteString(",FALSE")
			}
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	in := benchExport()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(bytes.NewReader(in), "users.csv")
		if err != nil || len(f.Users) != MaxImportRows {
			b.Fatalf("%v, %d users", err, len(f.Users))
		}
	}
}

func BenchmarkWriteBulk(b *testing.B) {
	org := testOrg()
	plan := make([]Planned, MaxImportRows)
	for i := range plan {
		plan[i] = Planned{Change: licensing.Change{Email: fmt.Sprintf("user%d@corp.example", i), Licences: []string{"LIC-PRO", "LIC-CCP"},
			PhoneNumber: fmt.Sprintf("+1212%07d", i), Extension: fmt.Sprint(i % 10000)}, LocationName: "New York", Holds: []string{"LIC-MTG"}}
	}
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		res, err := WriteBulk(&buf, org, plan, BulkOptions{})
		if err != nil || res.Rows != MaxImportRows {
			b.Fatalf("%v, %+v", err, res)
		}
	}
}
