package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MinFreeBytes is the free space doctor asks for on the filesystems holding
// the state store and the reports: a pass over a large directory writes
// reports of tens of MiB, and SQLite needs room for its write-ahead log.
const MinFreeBytes = 256 << 20

// existing returns dir itself or its nearest ancestor that exists, and the
// error that stopped the walk when an ancestor is not a directory.
func existing(dir string) (string, error) {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return p, nil
		case err == nil:
			return p, fmt.Errorf("%s is a file, not a directory", p)
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			parent := filepath.Dir(p)
			if parent == p {
				return p, err
			}
			p = parent
		default:
			return p, err
		}
	}
}

// WritableDir checks that licensync could create files in dir, or create dir
// itself when it does not exist yet, by asking the kernel (access(2)) rather
// than by writing. name is what the directory is for, e.g. "report directory".
func WritableDir(name, dir string) Check {
	tried := "access(W_OK) on " + dir
	at, err := existing(dir)
	if err != nil {
		return Fail(name, tried, err.Error(), fmt.Sprintf("point %s at a directory, or remove the file %s", name, at))
	}
	if at != filepath.Clean(dir) {
		tried = fmt.Sprintf("access(W_OK) on %s, the nearest existing parent of %s", at, dir)
	}
	if err := syscall.Access(at, 0x2|0x1); err != nil { // W_OK|X_OK: create entries in it
		return Fail(name, tried, fmt.Sprintf("%s is not writable by uid %d: %v", at, os.Geteuid(), err),
			fmt.Sprintf("give the licensync user write access to %s (chown or chmod u+w), or point %s elsewhere", at, name))
	}
	if at != filepath.Clean(dir) {
		return Pass(name, tried, dir+" does not exist yet; the first pass creates it")
	}
	return Pass(name, tried, "writable")
}

// FreeSpace checks that the filesystem holding dir has at least min bytes
// free for the licensync user.
func FreeSpace(name, dir string, min uint64) Check {
	at, err := existing(dir)
	tried := "statfs on " + at
	if err != nil {
		return Fail(name, tried, err.Error(), fmt.Sprintf("point %s at a directory", name))
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(at, &st); err != nil {
		return Fail(name, tried, err.Error(), "check that the filesystem is mounted and readable")
	}
	free := st.Bavail * uint64(st.Bsize)
	detail := fmt.Sprintf("%s free of %s", Bytes(free), Bytes(st.Blocks*uint64(st.Bsize)))
	if free < min {
		return Fail(name, tried, detail+", below the "+Bytes(min)+" doctor asks for",
			"free space on that filesystem or move the directory to a larger one")
	}
	return Pass(name, tried, detail)
}

// Bytes formats a size in binary units, e.g. "1.5 GiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ReadOnlyDSN is the modernc SQLite data source that reads the database at
// path without creating anything beside it. A database some process has open
// in WAL mode has its -wal and -shm files, and a read-only connection shares
// them; one nobody has open has none, and a read-only connection would create
// them, so it is read as immutable instead: its main file is then complete.
func ReadOnlyDSN(path string) string {
	_, werr := os.Stat(path + "-wal")
	_, serr := os.Stat(path + "-shm")
	if werr == nil && serr == nil {
		return "file:" + path + "?mode=ro&_pragma=busy_timeout(5000)"
	}
	return "file:" + path + "?mode=ro&immutable=1"
}
