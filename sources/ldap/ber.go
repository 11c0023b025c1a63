package ldap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	goldap "github.com/go-ldap/ldap/v3"
)

// A lean BER codec for the paged user search, the one request whose answer
// is the whole directory: go-ldap decodes every message into a tree of
// packets, copying each value several times, which made decoding most of a
// full pass's CPU. This one reads each message into one buffer and hands out
// the entry's values as slices of it.

// BER tags of the LDAP messages the paged search reads and writes.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30
	tagSet         = 0x31
	tagControls    = 0xa0 // [0] Controls of an LDAPMessage

	opBindRequest     = 0x60 // [APPLICATION 0]
	opBindResponse    = 0x61 // [APPLICATION 1]
	opSearchRequest   = 0x63 // [APPLICATION 3]
	opSearchEntry     = 0x64 // [APPLICATION 4]
	opSearchDone      = 0x65 // [APPLICATION 5]
	opSearchReference = 0x73 // [APPLICATION 19]
	opExtendedRequest = 0x77 // [APPLICATION 23]
	opExtendedResp    = 0x78 // [APPLICATION 24]
)

// maxMessage bounds one response message, so a corrupt length cannot make
// the reader allocate gigabytes.
const maxMessage = 64 << 20

var errTruncated = errors.New("truncated BER element")

// errForm marks an encoding BER allows and LDAP does not use (RFC 4511
// 5.1): an indefinite length, a length of more than four bytes, a
// multi-byte tag. go-asn1-ber reads them; this reader refuses them.
var errForm = errors.New("a BER form LDAP does not use")

// maxDepth bounds how deep the parts of a message this reader does not
// interpret may nest; LDAP's own messages nest six levels.
const maxDepth = 16

// berElem reads the element starting at b[pos], which must end by end, and
// returns its tag and where its contents start and stop.
func berElem(b []byte, pos, end int) (tag byte, start, stop int, err error) {
	if end > len(b) || pos < 0 || pos+2 > end {
		return 0, 0, 0, errTruncated
	}
	tag = b[pos]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, fmt.Errorf("BER tag %#x: multi-byte tag: %w", tag, errForm)
	}
	first := b[pos+1]
	pos += 2
	n := uint64(first)
	if first >= 0x80 {
		k := int(first & 0x7f)
		if k == 0 || k > 4 {
			return 0, 0, 0, fmt.Errorf("BER tag %#x: length form %#x: %w", tag, first, errForm)
		}
		if k > end-pos {
			return 0, 0, 0, errTruncated
		}
		n = berLength(b[pos : pos+k])
		pos += k
	}
	// Compared before it becomes an int, which on 32-bit platforms holds
	// no four-byte length above 0x7FFFFFFF.
	if n > uint64(end-pos) {
		return 0, 0, 0, errTruncated
	}
	return tag, pos, pos + int(n), nil
}

// berLength decodes the big-endian bytes of a long-form length; LDAP allows
// at most four, so it cannot overflow.
func berLength(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// berExpect reads the element at b[pos] and checks its tag.
func berExpect(b []byte, pos, end int, want byte, what string) (start, stop int, err error) {
	tag, start, stop, err := berElem(b, pos, end)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return 0, 0, fmt.Errorf("%s: BER tag %#x, want %#x", what, tag, want)
	}
	return start, stop, nil
}

// berInt decodes the contents of a two's complement INTEGER or ENUMERATED.
func berInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, fmt.Errorf("BER integer of %d bytes", len(c))
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// readMessage reads one LDAPMessage from r and returns its contents, in a
// buffer of its own that the caller may keep.
func readMessage(r *bufio.Reader) ([]byte, error) {
	return appendMessage(r, nil)
}

// appendMessage reads one LDAPMessage from r and appends its contents to
// dst, so that a page's messages can share one buffer from page to page.
func appendMessage(r *bufio.Reader, dst []byte) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return dst, err
	}
	if tag&0x1f == 0x1f {
		return dst, fmt.Errorf("malformed response: message starts with a multi-byte tag: %w", errForm)
	}
	if tag != tagSequence {
		return dst, fmt.Errorf("malformed response: message starts with BER tag %#x, want a SEQUENCE", tag)
	}
	first, err := r.ReadByte()
	if err != nil {
		return dst, noEOF(err)
	}
	n := uint64(first)
	if first >= 0x80 {
		k := int(first & 0x7f)
		if k == 0 || k > 4 {
			return dst, fmt.Errorf("malformed response: length form %#x: %w", first, errForm)
		}
		var digits [4]byte
		if _, err := io.ReadFull(r, digits[:k]); err != nil {
			return dst, noEOF(err)
		}
		n = berLength(digits[:k])
	}
	if n > maxMessage {
		return dst, fmt.Errorf("malformed response: a message of %d bytes (more than %d)", n, maxMessage)
	}
	return appendFull(r, dst, int(n))
}

// firstRead is how much room a message gets before its bytes arrive: a
// message's length is only the server's word, so the room grows with what
// actually arrives, at most doubling each time.
const firstRead = 64 << 10

// appendFull reads the n bytes of a message onto the end of dst.
func appendFull(r io.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	for got := 0; got < n; {
		step := min(n-got, max(firstRead, got))
		dst = slices.Grow(dst, step)
		if _, err := io.ReadFull(r, dst[len(dst):len(dst)+step]); err != nil {
			return dst[:start], noEOF(err)
		}
		dst = dst[:len(dst)+step]
		got += step
	}
	return dst, nil
}

// noEOF turns an EOF inside a message into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// response is one decoded LDAPMessage of the paged search.
type response struct {
	id int64
	op byte
	// entry is a SearchResultEntry's, with attributes as the server named them.
	entry *goldap.Entry
	// result is a SearchResultDone's, BindResponse's or ExtendedResponse's.
	result *goldap.Error
	// cookie is the paged results control's, empty on the last page.
	cookie []byte
}

// parseResponse decodes the contents of one LDAPMessage into an entry of
// its own. Entry values are slices of msg (and of one string copy of it),
// so msg must not change.
func parseResponse(msg []byte) (response, error) {
	return decodeResponse(msg, new(entryBuf))
}

// decodeResponse decodes the contents of one LDAPMessage; an entry goes
// into buf, and stays valid until buf is used again. Its strings are a copy
// of msg of their own, its byte values slices of msg.
func decodeResponse(msg []byte, buf *entryBuf) (response, error) {
	var r response
	end := len(msg)
	is, ie, err := berExpect(msg, 0, end, tagInteger, "messageID")
	if err != nil {
		return r, err
	}
	if r.id, err = berInt(msg[is:ie]); err != nil {
		return r, fmt.Errorf("messageID: %w", err)
	}
	op, ops, oe, err := berElem(msg, ie, end)
	if err != nil {
		return r, fmt.Errorf("protocolOp: %w", err)
	}
	r.op = op
	switch op {
	case opSearchEntry:
		r.entry, err = parseEntry(msg, ops, oe, buf)
	case opSearchDone, opBindResponse, opExtendedResp:
		r.result, err = parseResult(msg, ops, oe)
	case opSearchReference:
		err = parseReference(msg, ops, oe)
	default:
		err = fmt.Errorf("unexpected protocolOp BER tag %#x", op)
	}
	if err != nil {
		return r, err
	}
	if oe < end {
		cs, ce, err := berExpect(msg, oe, end, tagControls, "controls")
		if err != nil {
			return r, err
		}
		if ce != end {
			return r, errors.New("an element after the controls")
		}
		if r.cookie, err = pagingCookie(msg, cs, ce); err != nil {
			return r, err
		}
	}
	return r, nil
}

// berWalk checks that b[pos:end] is a run of elements, nested no deeper
// than maxDepth, of no universal type LDAP does not use; depth is theirs.
// It reads the parts of a message this reader does not interpret, so that
// it accepts the messages go-asn1-ber (go-ldap's reader) accepts.
func berWalk(b []byte, pos, end, depth int) error {
	for pos < end {
		if depth > maxDepth {
			return fmt.Errorf("elements nested %d deep", depth)
		}
		tag, start, stop, err := berElem(b, pos, end)
		if err != nil {
			return err
		}
		if tag&0xc0 == 0 {
			switch tag & 0x1f {
			case 0x01, tagInteger, tagOctetString, 0x05, tagEnumerated, tagSequence & 0x1f, tagSet & 0x1f:
			default:
				return fmt.Errorf("BER tag %#x: a universal type LDAP does not use", tag)
			}
		}
		if tag&0x20 != 0 {
			if err := berWalk(b, start, stop, depth+1); err != nil {
				return err
			}
		}
		pos = stop
	}
	return nil
}

// parseReference checks a SearchResultReference: one or more URIs, which
// the search does not follow.
func parseReference(b []byte, pos, end int) error {
	if pos == end {
		return errors.New("search reference without a URI")
	}
	for pos < end {
		_, stop, err := berExpect(b, pos, end, tagOctetString, "search reference URI")
		if err != nil {
			return err
		}
		pos = stop
	}
	return nil
}

// entryBuf is the storage an entry is decoded into, reused from one entry
// to the next: the Entry, its attributes and their lists of values. Only
// the strings the values are slices of are allocated for each entry, since
// users keep them.
type entryBuf struct {
	entry goldap.Entry
	ptrs  []*goldap.EntryAttribute
	attrs []goldap.EntryAttribute
	strs  []string
	raws  [][]byte
}

// parseEntry decodes a SearchResultEntry into buf: the DN, then each
// attribute's type and set of values. A first walk checks the structure and
// counts, so that decoding needs no allocation but the entry's one string
// however many values it holds.
func parseEntry(b []byte, pos, end int, buf *entryBuf) (*goldap.Entry, error) {
	ds, de, err := berExpect(b, pos, end, tagOctetString, "entry objectName")
	if err != nil {
		return nil, err
	}
	as, ae, err := berExpect(b, de, end, tagSequence, "entry attributes")
	if err != nil {
		return nil, err
	}
	if ae != end {
		return nil, errors.New("entry: an element after the attributes")
	}
	attrs, values := 0, 0
	for p := as; p < ae; attrs++ {
		cs, ce, err := berExpect(b, p, ae, tagSequence, "attribute")
		if err != nil {
			return nil, err
		}
		_, te, err := berExpect(b, cs, ce, tagOctetString, "attribute type")
		if err != nil {
			return nil, err
		}
		vs, ve, err := berExpect(b, te, ce, tagSet, "attribute values")
		if err != nil {
			return nil, err
		}
		if ve != ce {
			return nil, errors.New("attribute: an element after the values")
		}
		for q := vs; q < ve; values++ {
			_, e, err := berExpect(b, q, ve, tagOctetString, "attribute value")
			if err != nil {
				return nil, err
			}
			q = e
		}
		p = ce
	}
	s := string(b[pos:end])
	str := func(start, stop int) string { return s[start-pos : stop-pos] }
	buf.attrs = slices.Grow(buf.attrs[:0], attrs)[:attrs]
	buf.ptrs = slices.Grow(buf.ptrs[:0], attrs)[:attrs]
	strs := slices.Grow(buf.strs[:0], values)
	raws := slices.Grow(buf.raws[:0], values)
	i := 0
	for p := as; p < ae; i++ {
		// The walk above checked every element: no error is possible here.
		_, cs, ce, _ := berElem(b, p, ae)
		_, ts, te, _ := berElem(b, cs, ce)
		_, vs, ve, _ := berElem(b, te, ce)
		first := len(strs)
		for q := vs; q < ve; {
			_, start, stop, _ := berElem(b, q, ve)
			strs = append(strs, str(start, stop))
			raws = append(raws, b[start:stop:stop])
			q = stop
		}
		buf.attrs[i] = goldap.EntryAttribute{Name: str(ts, te), Values: strs[first:len(strs):len(strs)], ByteValues: raws[first:len(raws):len(raws)]}
		buf.ptrs[i] = &buf.attrs[i]
		p = ce
	}
	buf.strs, buf.raws = strs, raws
	buf.entry = goldap.Entry{DN: str(ds, de), Attributes: buf.ptrs}
	return &buf.entry, nil
}

// parseResult decodes an LDAPResult into go-ldap's error type, so the
// source's checks of result codes apply as they do to go-ldap's answers.
func parseResult(b []byte, pos, end int) (*goldap.Error, error) {
	cs, ce, err := berExpect(b, pos, end, tagEnumerated, "resultCode")
	if err != nil {
		return nil, err
	}
	code, err := berInt(b[cs:ce])
	if err != nil || code < 0 || code > 0xffff {
		return nil, fmt.Errorf("resultCode %d: %v", code, err)
	}
	ms, me, err := berExpect(b, ce, end, tagOctetString, "matchedDN")
	if err != nil {
		return nil, err
	}
	ds, de, err := berExpect(b, me, end, tagOctetString, "diagnosticMessage")
	if err != nil {
		return nil, err
	}
	// A referral, SASL credentials or an extended response's name and
	// value may follow; none is used, all must be BER.
	if err := berWalk(b, de, end, 2); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	return &goldap.Error{ResultCode: uint16(code), MatchedDN: string(b[ms:me]), Err: errors.New(string(b[ds:de]))}, nil
}

// pagingCookie finds the first paged results control among the controls
// in b[pos:end] and returns its cookie; the others must be BER.
func pagingCookie(b []byte, pos, end int) ([]byte, error) {
	var cookie []byte
	found := false
	for p := pos; p < end; {
		cs, ce, err := berExpect(b, p, end, tagSequence, "control")
		if err != nil {
			return nil, err
		}
		p = ce
		ts, te, err := berExpect(b, cs, ce, tagOctetString, "controlType")
		if err != nil {
			return nil, err
		}
		if found || string(b[ts:te]) != goldap.ControlTypePaging {
			if err := berWalk(b, te, ce, 3); err != nil {
				return nil, fmt.Errorf("control %q: %w", b[ts:te], err)
			}
			continue
		}
		found = true
		if cookie, err = pagingValue(b, te, ce); err != nil {
			return nil, err
		}
	}
	return cookie, nil
}

// pagingValue reads what follows the paged results control's type in
// b[pos:end]: an optional criticality BOOLEAN, then the value, a SEQUENCE
// of the size and the cookie.
func pagingValue(b []byte, pos, end int) ([]byte, error) {
	if pos < end && b[pos] == 0x01 {
		_, stop, err := berExpect(b, pos, end, 0x01, "criticality")
		if err != nil {
			return nil, err
		}
		pos = stop
	}
	vs, ve, err := berExpect(b, pos, end, tagOctetString, "paged results control value")
	if err != nil {
		return nil, err
	}
	if ve != end {
		return nil, errors.New("paged results control: an element after the value")
	}
	ss, se, err := berExpect(b, vs, ve, tagSequence, "paged results value")
	if err != nil {
		return nil, err
	}
	if se != ve {
		return nil, errors.New("paged results value: bytes after the SEQUENCE")
	}
	is, ie, err := berExpect(b, ss, se, tagInteger, "paged results size")
	if err != nil {
		return nil, err
	}
	if _, err := berInt(b[is:ie]); err != nil {
		return nil, fmt.Errorf("paged results size: %w", err)
	}
	ks, ke, err := berExpect(b, ie, se, tagOctetString, "paged results cookie")
	if err != nil {
		return nil, err
	}
	if ke != se {
		return nil, errors.New("paged results value: an element after the cookie")
	}
	return b[ks:ke:ke], nil
}

// berLen appends a definite length.
func berLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// berTLV encodes an element whose contents are parts, concatenated.
func berTLV(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := berLen(append(make([]byte, 0, n+6), tag), n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// berString encodes a string under tag.
func berString(tag byte, s string) []byte { return berTLV(tag, []byte(s)) }

// berInteger encodes v, in as few bytes as two's complement allows, under tag.
func berInteger(tag byte, v int64) []byte {
	n := 1
	for n < 8 && (v>>(8*n-1) != 0 && v>>(8*n-1) != -1) {
		n++
	}
	c := make([]byte, n)
	for i := range c {
		c[n-1-i] = byte(v >> (8 * i))
	}
	return berTLV(tag, c)
}
