package pass

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// workDir is the folder of the passes' working files (the spills of
// screened users, decisions and report rows, about 1 MB per thousand
// users): beside the state store, which under systemd is StateDirectory=,
// rather than $TMPDIR, which may be a small PrivateTmp= and which nobody
// sweeps after a killed pass.
func (s *Store) workDir() string { return filepath.Join(s.dir, "work") }

// notePrefix starts the names of the notes a pass leaves in the work folder
// about the report folder it writes into.
const notePrefix = "licensync-reports-"

// reportNote says where a pass writes its reports, so that the next pass
// can remove what it left there if it was killed.
type reportNote struct {
	Dir string `json:"dir"`
	Run string `json:"run"`
	// Created is set when the pass made Dir.
	Created bool `json:"created"`
}

func writeNote(work string, n reportNote) (string, error) {
	f, err := os.CreateTemp(work, notePrefix+"*.json")
	if err != nil {
		return "", fmt.Errorf("pass: work folder: %w", err)
	}
	err = json.NewEncoder(f).Encode(n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("pass: work folder: %w", err)
	}
	return f.Name(), nil
}

// removeReportTemps removes the reports a pass had not put in place, and
// its report folder if it made it and nothing else is in it.
func removeReportTemps(n reportNote) {
	for _, name := range reportNames {
		os.Remove(tmpName(n.Dir, name, n.Run))
	}
	if n.Created {
		os.Remove(n.Dir) // fails, as it should, unless empty
	}
}

// prepareWork makes the work folder and removes what a killed pass left:
// its working files, the unfinished reports its note points at, and an
// unfinished latest/ swap under reportRoot. It relies on the instance lock
// (Lock): no other pass can be using any of them.
func prepareWork(work, reportRoot string, log *zap.Logger) error {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("pass: work folder: %w", err)
	}
	entries, err := os.ReadDir(work)
	if err != nil {
		return fmt.Errorf("pass: work folder: %w", err)
	}
	var files int
	var bytes int64
	for _, e := range entries {
		path := filepath.Join(work, e.Name())
		if strings.HasPrefix(e.Name(), notePrefix) {
			var n reportNote
			if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &n) == nil && n.Dir != "" {
				removeReportTemps(n)
			}
		}
		if info, err := e.Info(); err == nil {
			bytes += info.Size()
		}
		if err := os.RemoveAll(path); err != nil {
			log.Warn("a killed pass's working file could not be removed", zap.Error(err))
			continue
		}
		files++
	}
	sweepLatest(reportRoot)
	if files > 0 {
		log.Info("removed the working files a killed pass left", zap.Int("files", files), zap.Int64("bytes", bytes))
	}
	return nil
}

// sweepLatest finishes or undoes a latest/ swap a killed pass left under
// root (see publishLatest): a complete previous latest/ set aside is put
// back when latest/ is missing, and the rest is removed.
func sweepLatest(root string) {
	if root == "" {
		return
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	latest := filepath.Join(root, "latest")
	for _, e := range entries {
		path := filepath.Join(root, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "latest.old-"):
			if _, err := os.Stat(latest); os.IsNotExist(err) && os.Rename(path, latest) == nil {
				continue
			}
			os.RemoveAll(path)
		case strings.HasPrefix(e.Name(), "latest.tmp-"):
			os.RemoveAll(path)
		}
	}
}
