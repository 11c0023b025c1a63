package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// runDir matches the report folders passes make (pass.NewRunID's form).
var runDir = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`)

// PruneReports removes all but the newest keep pass report folders under
// dir. It leaves latest/ and anything not named like a pass alone.
func PruneReports(dir string, keep int) (removed int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("report retention: %w", err)
	}
	var runs []string
	for _, e := range entries {
		if e.IsDir() && runDir.MatchString(e.Name()) {
			runs = append(runs, e.Name())
		}
	}
	sort.Strings(runs) // run ids sort by start time
	for _, name := range runs[:max(len(runs)-keep, 0)] {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return removed, fmt.Errorf("report retention: %w", err)
		}
		removed++
	}
	return removed, nil
}
