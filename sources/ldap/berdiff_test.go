package ldap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// The lean reader against go-asn1-ber, the BER reader under go-ldap: both
// read the same stream, go-asn1-ber's tree is interpreted by the LDAP
// schema below, and the two must accept the same messages and give the same
// values. The only messages they may judge differently are those in a BER
// form LDAP does not use (errForm); for those, the lean reader must accept
// what go-asn1-ber re-encodes from its tree, with the same values.

// decoded is what the paged search uses of one response.
type decoded struct {
	id      int64
	op      byte
	dn      string
	attrs   []decodedAttr
	code    uint16
	matched string
	diag    string
	cookie  string
}

type decodedAttr struct {
	name   string
	values []string
}

// readLean decodes the first message of stream with the lean reader.
func readLean(stream []byte) (decoded, error) {
	msg, err := readMessage(bufio.NewReader(bytes.NewReader(stream)))
	if err != nil {
		return decoded{}, err
	}
	r, err := parseResponse(msg)
	if err != nil {
		return decoded{}, err
	}
	d := decoded{id: r.id, op: r.op, cookie: string(r.cookie)}
	if r.entry != nil {
		d.dn = r.entry.DN
		for _, a := range r.entry.Attributes {
			d.attrs = append(d.attrs, decodedAttr{a.Name, a.Values})
		}
	}
	if r.result != nil {
		d.code, d.matched, d.diag = r.result.ResultCode, r.result.MatchedDN, r.result.Err.Error()
	}
	return d, nil
}

// oddities are the forms in go-asn1-ber's tree that its re-encoding keeps
// and the lean reader refuses.
type oddities struct {
	highTag      bool // a tag number of 31 or more
	oddPageValue bool // a paged results value not in its shortest encoding
}

// ident is the one-byte identifier of p, or false for a high tag number.
func ident(p *ber.Packet) (byte, bool) {
	if p.Tag >= 31 {
		return 0, false
	}
	return byte(p.ClassType) | byte(p.TagType) | byte(p.Tag), true
}

// interpret reads go-asn1-ber's tree of one message by the LDAP schema.
func interpret(root *ber.Packet) (decoded, oddities, error) {
	var d decoded
	var odd oddities
	if err := profile(root, 0, &odd); err != nil {
		return d, odd, err
	}
	if id, _ := ident(root); id != tagSequence || len(root.Children) < 2 || len(root.Children) > 3 {
		return d, odd, errors.New("message: not a SEQUENCE of two or three elements")
	}
	var err error
	if d.id, err = integer(root.Children[0], tagInteger); err != nil {
		return d, odd, fmt.Errorf("messageID: %w", err)
	}
	op := root.Children[1]
	d.op, _ = ident(op)
	switch d.op {
	case opSearchEntry:
		if len(op.Children) != 2 || !is(op.Children[0], tagOctetString) || !is(op.Children[1], tagSequence) {
			return d, odd, errors.New("entry: want objectName and attributes")
		}
		d.dn = op.Children[0].Data.String()
		for _, a := range op.Children[1].Children {
			if !is(a, tagSequence) || len(a.Children) != 2 || !is(a.Children[0], tagOctetString) || !is(a.Children[1], tagSet) {
				return d, odd, errors.New("attribute: want a type and a SET of values")
			}
			attr := decodedAttr{name: a.Children[0].Data.String()}
			for _, v := range a.Children[1].Children {
				if !is(v, tagOctetString) {
					return d, odd, errors.New("attribute value: not an OCTET STRING")
				}
				attr.values = append(attr.values, v.Data.String())
			}
			d.attrs = append(d.attrs, attr)
		}
	case opSearchDone, opBindResponse, opExtendedResp:
		if len(op.Children) < 3 || !is(op.Children[1], tagOctetString) || !is(op.Children[2], tagOctetString) {
			return d, odd, errors.New("result: want resultCode, matchedDN and diagnosticMessage")
		}
		code, err := integer(op.Children[0], tagEnumerated)
		if err != nil || code < 0 || code > 0xffff {
			return d, odd, fmt.Errorf("resultCode %d: %v", code, err)
		}
		d.code, d.matched, d.diag = uint16(code), op.Children[1].Data.String(), op.Children[2].Data.String()
	case opSearchReference:
		if len(op.Children) == 0 {
			return d, odd, errors.New("reference: no URI")
		}
		for _, u := range op.Children {
			if !is(u, tagOctetString) {
				return d, odd, errors.New("reference: a URI that is not an OCTET STRING")
			}
		}
	default:
		return d, odd, fmt.Errorf("unexpected protocolOp %v", op.Identifier)
	}
	if len(root.Children) == 3 {
		if err := controls(root.Children[2], &d, &odd); err != nil {
			return d, odd, err
		}
	}
	return d, odd, nil
}

// profile refuses what LDAP's messages never hold: deep nesting and
// universal types other than BOOLEAN, INTEGER, OCTET STRING, NULL,
// ENUMERATED, SEQUENCE and SET; it notes high tag numbers.
func profile(p *ber.Packet, depth int, odd *oddities) error {
	if depth > maxDepth {
		return fmt.Errorf("nested %d deep", depth)
	}
	if p.Tag >= 31 {
		odd.highTag = true
	}
	if p.ClassType == ber.ClassUniversal && !slices.Contains([]ber.Tag{1, 2, 4, 5, 10, 16, 17}, p.Tag) {
		return fmt.Errorf("universal tag %d", p.Tag)
	}
	for _, c := range p.Children {
		if err := profile(c, depth+1, odd); err != nil {
			return err
		}
	}
	return nil
}

func is(p *ber.Packet, want byte) bool {
	id, ok := ident(p)
	return ok && id == want
}

// integer reads an INTEGER or ENUMERATED of one to eight bytes.
func integer(p *ber.Packet, tag byte) (int64, error) {
	if !is(p, tag) || p.Data.Len() == 0 || p.Data.Len() > 8 {
		return 0, fmt.Errorf("want a %#x of 1 to 8 bytes, have %v of %d", tag, p.Identifier, p.Data.Len())
	}
	return ber.ParseInt64(p.Data.Bytes())
}

// controls reads the message's controls and the cookie of the first paged
// results control.
func controls(p *ber.Packet, d *decoded, odd *oddities) error {
	if !is(p, tagControls) {
		return errors.New("controls: not [0]")
	}
	found := false
	for _, c := range p.Children {
		if !is(c, tagSequence) || len(c.Children) == 0 || !is(c.Children[0], tagOctetString) {
			return errors.New("control: want a SEQUENCE starting with its type")
		}
		if found || c.Children[0].Data.String() != goldap.ControlTypePaging {
			continue
		}
		found = true
		rest := c.Children[1:]
		if len(rest) > 0 && is(rest[0], 0x01) {
			rest = rest[1:]
		}
		if len(rest) != 1 || !is(rest[0], tagOctetString) {
			return errors.New("paged results control: want one value")
		}
		value := rest[0].Data.Bytes()
		r := bytes.NewReader(value)
		v, err := ber.ReadPacket(r)
		if err != nil {
			return fmt.Errorf("paged results value: %w", err)
		}
		if r.Len() > 0 || !is(v, tagSequence) || len(v.Children) != 2 || !is(v.Children[1], tagOctetString) {
			return errors.New("paged results value: want one SEQUENCE of size and cookie")
		}
		if _, err := integer(v.Children[0], tagInteger); err != nil {
			return fmt.Errorf("paged results size: %w", err)
		}
		if err := profile(v, 0, odd); err != nil {
			return err
		}
		odd.oddPageValue = !bytes.Equal(v.Bytes(), value)
		d.cookie = v.Children[1].Data.String()
	}
	return nil
}

// againstBER tells how the lean reader and go-asn1-ber disagree on the
// first message of stream, or nil when they agree.
func againstBER(stream []byte) error {
	lean, leanErr := readLean(stream)
	tree, berErr := ber.ReadPacket(bytes.NewReader(stream))
	var ref decoded
	var odd oddities
	refErr := berErr
	if berErr == nil {
		ref, odd, refErr = interpret(tree)
	}
	switch {
	case leanErr == nil:
		if refErr != nil {
			return fmt.Errorf("the lean reader accepts what go-asn1-ber refuses (%v): %+v", refErr, lean)
		}
		if !equalDecoded(lean, ref) {
			return fmt.Errorf("the lean reader reads %+v, go-asn1-ber %+v", lean, ref)
		}
		return nil
	case errors.Is(leanErr, errForm):
		if refErr != nil {
			return nil
		}
		canon := tree.Bytes()
		if bytes.HasPrefix(stream, canon) {
			if odd.highTag || odd.oddPageValue {
				return nil
			}
			return fmt.Errorf("the lean reader calls a BER form unused by LDAP (%v) what go-asn1-ber re-encodes as it was", leanErr)
		}
		if err := againstBER(canon); err != nil {
			return fmt.Errorf("re-encoded by go-asn1-ber as %x: %w", canon, err)
		}
		return nil
	default:
		if refErr == nil {
			return fmt.Errorf("the lean reader refuses (%v) what go-asn1-ber reads as %+v", leanErr, ref)
		}
		return nil
	}
}

func equalDecoded(a, b decoded) bool {
	return a.id == b.id && a.op == b.op && a.dn == b.dn && a.code == b.code && a.matched == b.matched &&
		a.diag == b.diag && a.cookie == b.cookie &&
		slices.EqualFunc(a.attrs, b.attrs, func(x, y decodedAttr) bool { return x.name == y.name && slices.Equal(x.values, y.values) })
}

// message wraps the contents of an LDAPMessage in its SEQUENCE.
func message(parts ...[]byte) []byte { return berTLV(tagSequence, parts...) }

// berSeeds are real-shaped responses of a paged search, bind and StartTLS,
// and the same with lengths that lie and forms LDAP does not use.
func berSeeds() map[string][]byte {
	guid := string([]byte{0x3f, 0x2a, 0x80, 0x04, 0x30, 0x82, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff})
	entry := message(entryMsg(2, "CN=Zoë Müller,OU=Staff,DC=corp,DC=example",
		attribute("objectGUID", guid), attribute("mail", "zoe.mueller@corp.example"), attribute("displayName", "Zoë Müller"),
		attribute("telephoneNumber", "+49 30 901820"), attribute("userAccountControl", "512"),
		attribute("memberOf", "CN=Calling Users,OU=Groups,DC=corp,DC=example", "CN=Staff,OU=Groups,DC=corp,DC=example"),
		attribute("uSNChanged", "123456")))
	sortResult := berTLV(tagSequence, octets("1.2.840.113556.1.4.474"), berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagEnumerated, 0))))
	seeds := map[string][]byte{
		"entry":                             entry,
		"entry without values":              message(entryMsg(2, "uid=u1,ou=people,dc=example,dc=com", attribute("telephoneNumber"))),
		"page with cookie":                  message(doneMsg(2, 0, "", pagingControl("\x01\x00\x00\x00\xe8\x03\x00\x00", false))),
		"last page":                         message(doneMsg(2, 0, "", sortResult, pagingControl("", true))),
		"size limit":                        message(doneMsg(2, int64(goldap.LDAPResultSizeLimitExceeded), "Size limit exceeded")),
		"bind failure":                      message(berInteger(tagInteger, 1), berTLV(opBindResponse, berInteger(tagEnumerated, 49), octets(""), octets("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"))),
		"starttls":                          message(berInteger(tagInteger, 1), berTLV(opExtendedResp, berInteger(tagEnumerated, 0), octets(""), octets(""), berString(0x8a, startTLSOID))),
		"referral":                          message(berInteger(tagInteger, 2), berTLV(opSearchReference, octets("ldap://ForestDnsZones.corp.example/DC=ForestDnsZones,DC=corp,DC=example"))),
		"notice of disconnection":           message(berInteger(tagInteger, 0), berTLV(opExtendedResp, berInteger(tagEnumerated, 52), octets(""), octets("connection closing"), berString(0x8a, "1.3.6.1.4.1.1466.20036"))),
		"two messages":                      append(slices.Clone(entry), entry...),
		"non-minimal lengths":               {0x30, 0x84, 0, 0, 0, 0x0b, 0x02, 0x81, 0x01, 0x02, 0x64, 0x82, 0, 0x04, 0x04, 0x00, 0x30, 0x00},
		"indefinite lengths":                {0x30, 0x80, 0x02, 0x01, 0x02, 0x64, 0x80, 0x04, 0x01, 'a', 0x30, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		"a length of five bytes":            {0x30, 0x85, 0, 0, 0, 0, 0x07, 0x02, 0x01, 0x02, 0x64, 0x02, 0x04, 0x00},
		"a high tag for INTEGER":            {0x30, 0x09, 0x1f, 0x02, 0x01, 0x02, 0x64, 0x04, 0x04, 0x00, 0x30, 0x00},
		"a message longer than the stream":  {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x02},
		"a value longer than its attribute": message(berInteger(tagInteger, 2), berTLV(opSearchEntry, octets("uid=a"), berTLV(tagSequence, berTLV(tagSequence, octets("cn"), berTLV(tagSet, []byte{0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 'a'}))))),
		"a value shorter than it says":      message(berInteger(tagInteger, 2), berTLV(opSearchEntry, octets("uid=a"), berTLV(tagSequence, berTLV(tagSequence, octets("cn"), berTLV(tagSet, []byte{0x04, 0x05, 'a', 'b'}))))),
		// Parts of a message the lean reader once skipped unread, so it
		// accepted messages go-asn1-ber refuses.
		"an element after the controls":          message(doneMsg(2, 0, "", pagingControl("c", false)), octets("x")),
		"an element after an entry's attributes": message(berInteger(tagInteger, 2), berTLV(opSearchEntry, octets("uid=a"), berTLV(tagSequence), octets("x"))),
		"an element after an attribute's values": message(berInteger(tagInteger, 2), berTLV(opSearchEntry, octets("uid=a"), berTLV(tagSequence, berTLV(tagSequence, octets("cn"), berTLV(tagSet, octets("a")), octets("x"))))),
		"a reference without a URI":              message(berInteger(tagInteger, 2), berTLV(opSearchReference)),
		"a reference holding no BER":             message(berInteger(tagInteger, 2), berTLV(opSearchReference, []byte{0x04, 0x09, 'l'})),
		"a referral holding no BER":              message(berInteger(tagInteger, 2), berTLV(opSearchDone, berInteger(tagEnumerated, 10), octets(""), octets(""), berTLV(0xa3, []byte{0x04, 0x09}))),
		"a control holding no BER":               message(doneMsg(2, 0, "", pagingControl("c", false), berTLV(tagSequence, octets("1.2.3"), []byte{0x04, 0x09}))),
		"a control of an unused universal type":  message(doneMsg(2, 0, "", berTLV(tagSequence, octets("1.2.3"), berString(0x0c, "\xff")), pagingControl("c", false))),
		"a paged results value with bytes after it": message(doneMsg(2, 0, "", berTLV(tagSequence, octets(goldap.ControlTypePaging),
			berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagInteger, 0), octets("c")), octets("x"))))),
		"a paged results size of nine bytes": message(doneMsg(2, 0, "", berTLV(tagSequence, octets(goldap.ControlTypePaging),
			berTLV(tagOctetString, berTLV(tagSequence, berTLV(tagInteger, make([]byte, 9)), octets("c")))))),
		"a paging control with an element after its value": message(doneMsg(2, 0, "", berTLV(tagSequence, octets(goldap.ControlTypePaging),
			berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagInteger, 0), octets("c"))), octets("x")))),
	}
	return seeds
}

func TestTheLeanReaderAgreesWithGoASN1BER(t *testing.T) {
	for name, stream := range berSeeds() {
		t.Run(name, func(t *testing.T) {
			if err := againstBER(stream); err != nil {
				t.Error(err)
			}
		})
	}
}

func FuzzReadResponseAgainstGoASN1BER(f *testing.F) {
	for _, stream := range berSeeds() {
		f.Add(stream)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		if err := againstBER(stream); err != nil {
			t.Fatal(err)
		}
	})
}
