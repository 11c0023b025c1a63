package pass

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/licensync/licensync/licensing"
)

// The spills (screened users, then the plan) are written once and read
// back once by the same pass, so they need no self-description: a record
// is its length, then its fields in a fixed order, each string as its
// length and bytes. Encoding and decoding them cost a quarter of a
// plan's CPU with encoding/gob; this form costs a fraction of that.
// TestSpillRoundTripsEveryField fills every field of the spilled types by
// reflection, so a field added without a line here fails the test.

// spillWriter appends records to a spill.
type spillWriter struct {
	w   *bufio.Writer
	rec []byte
	// size is how many bytes the records written so far take.
	size int64
}

func newSpillWriter(w io.Writer) *spillWriter {
	return &spillWriter{w: bufio.NewWriterSize(w, 1<<16), rec: make([]byte, 0, 512)}
}

func (s *spillWriter) str(v string) {
	s.rec = binary.AppendUvarint(s.rec, uint64(len(v)))
	s.rec = append(s.rec, v...)
}

// strs writes a slice; an empty one reads back as nil.
func (s *spillWriter) strs(v []string) {
	s.rec = binary.AppendUvarint(s.rec, uint64(len(v)))
	for _, x := range v {
		s.str(x)
	}
}

func (s *spillWriter) flag(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	s.rec = append(s.rec, b)
}

func (s *spillWriter) user(u *licensing.DirectoryUser) {
	s.str(u.ID)
	s.str(u.Email)
	s.str(u.DisplayName)
	s.str(u.WorkPhone)
	s.flag(u.Enabled)
	s.strs(u.Groups)
	s.flag(u.Removed)
	s.str(u.Unreadable)
}

func (s *spillWriter) change(c *licensing.Change) {
	s.flag(c != nil)
	if c == nil {
		return
	}
	s.str(c.SourceID)
	s.str(c.PersonID)
	s.str(c.Email)
	s.strs(c.Licences)
	s.strs(c.Remove)
	s.str(c.LocationID)
	s.str(c.PhoneNumber)
	s.str(c.Extension)
}

func (s *spillWriter) decision(d *licensing.Decision) {
	s.flag(d != nil)
	if d == nil {
		return
	}
	s.str(string(d.Outcome))
	s.str(string(d.Cause))
	s.str(d.Detail)
	s.str(d.E164)
	s.str(d.Template)
	s.str(d.LocationID)
	s.str(d.LocationName)
	s.strs(d.Licences)
	s.change(d.Change)
}

func (s *spillWriter) workspace(w *licensing.WorkspaceChange) {
	s.flag(w != nil)
	if w == nil {
		return
	}
	s.str(w.WorkspaceID)
	s.strs(w.Licences)
	s.strs(w.Remove)
	s.str(w.LocationID)
	s.str(w.PhoneNumber)
	s.str(w.Extension)
}

// end writes the record built since the last end.
func (s *spillWriter) end() error {
	var n [binary.MaxVarintLen64]byte
	if _, err := s.w.Write(n[:binary.PutUvarint(n[:], uint64(len(s.rec)))]); err != nil {
		return fmt.Errorf("pass: spill: %w", err)
	}
	if _, err := s.w.Write(s.rec); err != nil {
		return fmt.Errorf("pass: spill: %w", err)
	}
	s.size += int64(binary.PutUvarint(n[:], uint64(len(s.rec))) + len(s.rec))
	s.rec = s.rec[:0]
	return nil
}

func (s *spillWriter) screened(v *licensing.Screened) error {
	s.user(&v.User)
	s.decision(v.Early)
	s.str(v.E164)
	s.rec = binary.AppendVarint(s.rec, int64(v.Template))
	return s.end()
}

func (s *spillWriter) entry(v *PlanEntry) error {
	s.user(&v.User)
	s.decision(&v.Decision)
	s.strs(v.Holds)
	s.workspace(v.Workspace)
	return s.end()
}

func (s *spillWriter) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("pass: spill: %w", err)
	}
	return nil
}

// errSpill is a spill that does not read back as it was written.
var errSpill = errors.New("a record does not read back as it was written")

// maxSpillRecord bounds one record, so that a corrupt length is an error
// rather than an allocation of gigabytes; a user in 100,000 groups takes
// under 10 MiB.
const maxSpillRecord = 16 << 20

// spillReader reads back what a spillWriter wrote. The values that repeat
// across users (outcomes, causes, templates, locations, licence ids,
// groups) are kept once per reader.
type spillReader struct {
	r    *bufio.Reader
	rec  []byte
	at   int
	bad  bool
	seen map[string]string
}

func newSpillReader(r io.Reader) *spillReader {
	return &spillReader{r: bufio.NewReaderSize(r, 1<<16), seen: map[string]string{}}
}

// next reads the next record into the reader, io.EOF after the last.
func (s *spillReader) next() error {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return err
	}
	if n > maxSpillRecord {
		return fmt.Errorf("a record of %d bytes: %w", n, errSpill)
	}
	if uint64(cap(s.rec)) < n {
		s.rec = make([]byte, n)
	}
	s.rec, s.at = s.rec[:n], 0
	if _, err := io.ReadFull(s.r, s.rec); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("a record of %d bytes: %w", n, err)
	}
	return nil
}

func (s *spillReader) length() int {
	n, k := binary.Uvarint(s.rec[s.at:])
	if k <= 0 || n > uint64(len(s.rec)-s.at-k) {
		s.bad = true
		s.at = len(s.rec)
		return 0
	}
	s.at += k
	return int(n)
}

func (s *spillReader) bytes() []byte {
	n := s.length()
	b := s.rec[s.at : s.at+n]
	s.at += n
	return b
}

func (s *spillReader) str() string { return string(s.bytes()) }

// shared reads a string that many records hold, keeping one copy.
func (s *spillReader) shared() string {
	b := s.bytes()
	if v, ok := s.seen[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.seen) < 4096 {
		s.seen[v] = v
	}
	return v
}

func (s *spillReader) strs(shared bool) []string {
	n := s.length()
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		if shared {
			v[i] = s.shared()
		} else {
			v[i] = s.str()
		}
	}
	return v
}

func (s *spillReader) flag() bool {
	if s.at >= len(s.rec) {
		s.bad = true
		return false
	}
	s.at++
	return s.rec[s.at-1] == 1
}

func (s *spillReader) user(u *licensing.DirectoryUser) {
	u.ID = s.str()
	u.Email = s.str()
	u.DisplayName = s.str()
	u.WorkPhone = s.str()
	u.Enabled = s.flag()
	u.Groups = s.strs(true)
	u.Removed = s.flag()
	u.Unreadable = s.str()
}

func (s *spillReader) change() *licensing.Change {
	if !s.flag() {
		return nil
	}
	return &licensing.Change{
		SourceID:    s.str(),
		PersonID:    s.str(),
		Email:       s.str(),
		Licences:    s.strs(true),
		Remove:      s.strs(true),
		LocationID:  s.shared(),
		PhoneNumber: s.str(),
		Extension:   s.str(),
	}
}

func (s *spillReader) decision() *licensing.Decision {
	if !s.flag() {
		return nil
	}
	d := &licensing.Decision{}
	s.decisionInto(d)
	return d
}

func (s *spillReader) decisionInto(d *licensing.Decision) {
	*d = licensing.Decision{
		Outcome:      licensing.Outcome(s.shared()),
		Cause:        licensing.Cause(s.shared()),
		Detail:       s.str(),
		E164:         s.str(),
		Template:     s.shared(),
		LocationID:   s.shared(),
		LocationName: s.shared(),
		Licences:     s.strs(true),
		Change:       s.change(),
	}
}

func (s *spillReader) workspace() *licensing.WorkspaceChange {
	if !s.flag() {
		return nil
	}
	return &licensing.WorkspaceChange{
		WorkspaceID: s.str(),
		Licences:    s.strs(true),
		Remove:      s.strs(true),
		LocationID:  s.shared(),
		PhoneNumber: s.str(),
		Extension:   s.str(),
	}
}

// done checks that the record was read exactly to its end.
func (s *spillReader) done() error {
	if s.bad || s.at != len(s.rec) {
		return errSpill
	}
	return nil
}

func (s *spillReader) screened() (v licensing.Screened, err error) {
	if err := s.next(); err != nil {
		return v, err
	}
	s.user(&v.User)
	v.Early = s.decision()
	v.E164 = s.str()
	t, k := binary.Varint(s.rec[s.at:])
	if k <= 0 {
		s.bad = true
	} else {
		s.at += k
	}
	v.Template = int(t)
	return v, s.done()
}

func (s *spillReader) entry() (v PlanEntry, err error) {
	if err := s.next(); err != nil {
		return v, err
	}
	s.user(&v.User)
	if s.flag() {
		s.decisionInto(&v.Decision)
	} else {
		s.bad = true
	}
	v.Holds = s.strs(true)
	v.Workspace = s.workspace()
	return v, s.done()
}
