package offline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/licensing"
)

// Doctor checks the organisation file at path without creating or seeding
// it: a directory it can be written in, and either the organisation opened
// read-only or, before the first pass, the seed files it will be made from.
// It returns the organisation's snapshot when there is one to read, so the
// templates can be checked against it.
func Doctor(ctx context.Context, path, seed string) ([]doctor.Check, *licensing.Org) {
	checks := []doctor.Check{doctor.WritableDir("offline org directory", filepath.Dir(path))}
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if seed == "" {
			return append(checks, doctor.Pass("offline org", "stat "+path, "not created yet and no seed: the first pass creates an empty organisation")), nil
		}
		var missing []string
		for _, name := range []string{"locations.csv", "numbers.csv", "licenses.csv", "people.csv"} {
			f, err := os.Open(filepath.Join(seed, name))
			if err != nil {
				missing = append(missing, err.Error())
				continue
			}
			f.Close()
		}
		tried := "open the seed files in " + seed
		if len(missing) > 0 {
			return append(checks, doctor.Fail("offline org seed", tried, fmt.Sprint(missing),
				"put locations.csv, numbers.csv, licenses.csv and people.csv in "+seed+", readable by the licensync user")), nil
		}
		return append(checks, doctor.Pass("offline org seed", tried, "readable; the first pass seeds "+path+" from them")), nil
	}
	tried := "read " + path + " opened read-only"
	db, err := sql.Open("sqlite", doctor.ReadOnlyDSN(path))
	if err != nil {
		return append(checks, doctor.Fail("offline org", tried, err.Error(), "check that "+path+" is a licensync offline organisation")), nil
	}
	defer db.Close()
	org, err := (&Org{db: db}).Snapshot(ctx)
	if err != nil {
		return append(checks, doctor.Fail("offline org", tried, err.Error(), "check that "+path+" is a licensync offline organisation")), nil
	}
	return append(checks, doctor.Pass("offline org", tried,
		fmt.Sprintf("%d location(s), %d number(s), %d licence(s)", len(org.Locations), org.Numbers.Len(), len(org.Licences)))), org
}
