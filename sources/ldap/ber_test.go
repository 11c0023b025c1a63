package ldap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

// Hand-built LDAP messages, each the contents of the outer SEQUENCE as
// readMessage returns them.

func octets(s string) []byte { return berString(tagOctetString, s) }

func attribute(name string, values ...string) []byte {
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = octets(v)
	}
	return berTLV(tagSequence, octets(name), berTLV(tagSet, vs...))
}

func entryMsg(id int64, dn string, attrs ...[]byte) []byte {
	return bytes.Join([][]byte{berInteger(tagInteger, id), berTLV(opSearchEntry, octets(dn), berTLV(tagSequence, attrs...))}, nil)
}

func doneMsg(id int64, code int64, diag string, controls ...[]byte) []byte {
	parts := [][]byte{berInteger(tagInteger, id), berTLV(opSearchDone, berInteger(tagEnumerated, code), octets(""), octets(diag))}
	if len(controls) > 0 {
		parts = append(parts, berTLV(tagControls, controls...))
	}
	return bytes.Join(parts, nil)
}

func pagingControl(cookie string, critical bool) []byte {
	value := berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagInteger, 0), octets(cookie)))
	if critical {
		return berTLV(tagSequence, octets(goldap.ControlTypePaging), []byte{0x01, 0x01, 0xff}, value)
	}
	return berTLV(tagSequence, octets(goldap.ControlTypePaging), value)
}

func TestTheBERParserDecodesSearchResponses(t *testing.T) {
	guid := string([]byte{0x00, 0xff, 0x80, 0x04, 0x30, 0x82, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	long := strings.Repeat("x", 300) // a value whose length takes the long form
	tests := []struct {
		name       string
		msg        []byte
		wantOp     byte
		wantDN     string
		wantAttrs  map[string][]string
		wantCode   uint16
		wantDiag   string
		wantCookie string
	}{
		{"an entry gives its DN and every value of every attribute",
			entryMsg(7, "uid=a,ou=People,dc=x", attribute("mail", "a@x"), attribute("memberOf", "cn=G1,dc=x", "cn=G2,dc=x"), attribute("objectGUID", guid), attribute("description", long)),
			opSearchEntry, "uid=a,ou=People,dc=x",
			map[string][]string{"mail": {"a@x"}, "memberOf": {"cn=G1,dc=x", "cn=G2,dc=x"}, "objectGUID": {guid}, "description": {long}}, 0, "", ""},
		{"an attribute without values gives none",
			entryMsg(7, "uid=b,dc=x", attribute("telephoneNumber")),
			opSearchEntry, "uid=b,dc=x", map[string][]string{"telephoneNumber": nil}, 0, "", ""},
		{"an entry without attributes gives just its DN",
			entryMsg(7, "uid=c,dc=x"), opSearchEntry, "uid=c,dc=x", map[string][]string{}, 0, "", ""},
		{"a last page gives success and no cookie",
			doneMsg(7, 0, "", pagingControl("", false)), opSearchDone, "", nil, 0, "", ""},
		{"a page gives the cookie of the next",
			doneMsg(7, 0, "", berTLV(tagSequence, octets("1.2.3.4")), pagingControl("\x00\x01cookie", false)),
			opSearchDone, "", nil, 0, "", "\x00\x01cookie"},
		{"a critical paging control still gives its cookie",
			doneMsg(7, 0, "", pagingControl("c2", true)), opSearchDone, "", nil, 0, "", "c2"},
		{"a size limit gives its result code and the server's message",
			doneMsg(7, int64(goldap.LDAPResultSizeLimitExceeded), "Size limit exceeded"),
			opSearchDone, "", nil, goldap.LDAPResultSizeLimitExceeded, "Size limit exceeded", ""},
		{"a continuation reference is recognised and carries nothing",
			bytes.Join([][]byte{berInteger(tagInteger, 7), berTLV(opSearchReference, octets("ldap://other/dc=x"))}, nil),
			opSearchReference, "", nil, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseResponse(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if r.id != 7 || r.op != tt.wantOp {
				t.Fatalf("id %d op %#x, want 7 and %#x", r.id, r.op, tt.wantOp)
			}
			if string(r.cookie) != tt.wantCookie {
				t.Errorf("cookie %q, want %q", r.cookie, tt.wantCookie)
			}
			if tt.wantOp == opSearchDone {
				if r.result.ResultCode != tt.wantCode || r.result.Err.Error() != tt.wantDiag {
					t.Errorf("result %d %q, want %d %q", r.result.ResultCode, r.result.Err, tt.wantCode, tt.wantDiag)
				}
			}
			if tt.wantOp != opSearchEntry {
				return
			}
			if r.entry.DN != tt.wantDN {
				t.Errorf("DN %q, want %q", r.entry.DN, tt.wantDN)
			}
			if len(r.entry.Attributes) != len(tt.wantAttrs) {
				t.Errorf("%d attributes, want %d", len(r.entry.Attributes), len(tt.wantAttrs))
			}
			for name, want := range tt.wantAttrs {
				got := r.entry.GetAttributeValues(name)
				raw := r.entry.GetRawAttributeValues(name)
				if len(got) != len(want) || len(raw) != len(want) {
					t.Fatalf("%s: %q and %d raw values, want %q", name, got, len(raw), want)
				}
				for i := range want {
					if got[i] != want[i] || string(raw[i]) != want[i] {
						t.Errorf("%s[%d] = %q / raw %q, want %q", name, i, got[i], raw[i], want[i])
					}
				}
			}
		})
	}
}

func TestMalformedResponsesGiveAnErrorNotAPanic(t *testing.T) {
	entry := entryMsg(3, "uid=a,dc=x", attribute("mail", "a@x"), attribute("cn", "A", "B"))
	done := doneMsg(3, 0, "", pagingControl("abc", false))
	tests := []struct {
		name string
		msg  []byte
	}{
		{"an empty message", nil},
		{"a message ID that is not an INTEGER", append(octets("7"), entry[3:]...)},
		{"an unknown protocol operation", bytes.Join([][]byte{berInteger(tagInteger, 3), berTLV(0x42, nil)}, nil)},
		{"an attribute list that is not a SEQUENCE", bytes.Join([][]byte{berInteger(tagInteger, 3), berTLV(opSearchEntry, octets("uid=a"), berTLV(tagSet))}, nil)},
		{"a value that is not an OCTET STRING", bytes.Join([][]byte{berInteger(tagInteger, 3), berTLV(opSearchEntry, octets("uid=a"),
			berTLV(tagSequence, berTLV(tagSequence, octets("cn"), berTLV(tagSet, berInteger(tagInteger, 1)))))}, nil)},
		{"an indefinite length", []byte{tagInteger, 0x01, 0x03, opSearchEntry, 0x80, 0x00, 0x00}},
		{"a length of five bytes", []byte{tagInteger, 0x01, 0x03, opSearchEntry, 0x85, 0, 0, 0, 0, 1}},
		{"a multi-byte tag", []byte{tagInteger, 0x01, 0x03, 0x7f, 0x81, 0x01, 0x00}},
		{"a length past the end", []byte{tagInteger, 0x01, 0x03, opSearchEntry, 0x84, 0x7f, 0xff, 0xff, 0xff}},
		{"a result without its diagnostic message", bytes.Join([][]byte{berInteger(tagInteger, 3), berTLV(opSearchDone, berInteger(tagEnumerated, 0), octets(""))}, nil)},
		{"a paging control without a cookie", doneMsg(3, 0, "", berTLV(tagSequence, octets(goldap.ControlTypePaging),
			berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagInteger, 0)))))},
		{"controls that are not [0]", append(doneMsg(3, 0, ""), octets("x")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseResponse(tt.msg); err == nil {
				t.Error("no error")
			}
		})
	}
	t.Run("every truncation of a good entry or page end fails cleanly", func(t *testing.T) {
		// Cut just before its controls, a page end is a whole message.
		whole := len(doneMsg(3, 0, ""))
		for _, msg := range [][]byte{entry, done} {
			for n := range len(msg) {
				if _, err := parseResponse(msg[:n]); err == nil && (&msg[0] != &done[0] || n != whole) {
					t.Errorf("%d of %d bytes parsed without error", n, len(msg))
				}
			}
		}
	})
}

func TestReadMessageFramesAndBoundsMessages(t *testing.T) {
	good := berTLV(tagSequence, entryMsg(1, "uid=a,dc=x", attribute("mail", "a@x")))
	tests := []struct {
		name    string
		stream  []byte
		wantErr error // nil: any error; the message when want is set
		want    []byte
	}{
		{"two messages back to back give the first", append(good, good...), nil, good[2:]},
		{"a connection closed between messages gives EOF", nil, io.EOF, nil},
		{"a connection closed inside a message gives an unexpected EOF", good[:len(good)-1], io.ErrUnexpectedEOF, nil},
		{"a connection closed inside the length gives an unexpected EOF", []byte{tagSequence, 0x82, 0x01}, io.ErrUnexpectedEOF, nil},
		{"a message that is not a SEQUENCE is refused", append([]byte{tagSet}, good[1:]...), nil, nil},
		{"a message above the bound is refused before reading it", []byte{tagSequence, 0x84, 0x7f, 0xff, 0xff, 0xff}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readMessage(bufio.NewReader(bytes.NewReader(tt.stream)))
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("got %x, %v; want %x", got, err, tt.want)
				}
				return
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestTheBEREncoderWritesWhatTheParserReads(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 32767, 32768, -1, -128, -129, 1 << 40} {
		tag, s, e, err := berElem(berInteger(tagInteger, v), 0, len(berInteger(tagInteger, v)))
		if err != nil || tag != tagInteger {
			t.Fatalf("%d: tag %#x, %v", v, tag, err)
		}
		b := berInteger(tagInteger, v)
		if got, err := berInt(b[s:e]); err != nil || got != v {
			t.Errorf("%d encoded as %x reads back as %d, %v", v, b, got, err)
		}
	}
	for _, n := range []int{0, 127, 128, 255, 256, 65535, 65536} {
		b := berTLV(tagOctetString, make([]byte, n))
		if _, s, e, err := berElem(b, 0, len(b)); err != nil || e-s != n || e != len(b) {
			t.Errorf("%d bytes: contents %d..%d of %d, %v", n, s, e, len(b), err)
		}
	}
}

func TestPlainDNsGetTheKeyTheDNParserGives(t *testing.T) {
	tests := []struct {
		name string
		dn   string
	}{
		{"a lower-case DN", "uid=u0000001,ou=people,dc=example,dc=com"},
		{"mixed case and spaces inside values", "CN=Calling Users,OU=Groups,DC=Example,DC=com"},
		{"spaces after the commas", "cn=Calling Users, ou=groups, dc=example"},
		{"spaces around the equals sign", "cn = Calling Users,dc=example"},
		{"an escaped comma", `cn=Doe\, Jane,dc=example`},
		{"a multi-valued RDN", "cn=a+uid=b,dc=example"},
		{"a quoted value", `cn="A, B",dc=example`},
		{"a hex value", "cn=#04024869,dc=example"},
		{"an empty value", "cn=,dc=example"},
		{"a trailing comma", "cn=a,"},
		{"no equals sign", "just text"},
		{"two equals signs in one RDN", "cn=a=b,dc=example"},
		{"a trailing space", "cn=a,dc=example "},
		{"an OID as the type", "2.5.4.3=Jane,dc=example"},
		{"a UTF-8 value", "cn=Zoë Müller,dc=example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := normDN(tt.dn), parsedNormDN(tt.dn); got != want {
				t.Errorf("normDN(%q) = %q, the parser gives %q", tt.dn, got, want)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add(entryMsg(1, "uid=a,dc=x", attribute("mail", "a@x"), attribute("memberOf", "cn=G,dc=x", "cn=H,dc=x")))
	f.Add(doneMsg(1, 0, "", pagingControl("cookie", true)))
	f.Add(doneMsg(1, 4, "Size limit exceeded"))
	f.Add([]byte{tagInteger, 0x01, 0x01, opSearchEntry, 0x84, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := parseResponse(msg)
		if err == nil && r.op == opSearchEntry && r.entry == nil {
			t.Fatal("an entry without an Entry")
		}
	})
}

func FuzzPlainDN(f *testing.F) {
	for _, dn := range []string{"uid=a,ou=People,dc=x", "cn=A B, dc=x", `cn=a\,b,dc=x`, "cn=,dc=x", "a=b=c"} {
		f.Add(dn)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		if plainDN(dn) && normDN(dn) != parsedNormDN(dn) {
			t.Fatalf("normDN(%q) = %q, the parser gives %q", dn, normDN(dn), parsedNormDN(dn))
		}
	})
}

func TestLengthsBeyondTheInputAreRefusedBeforeUse(t *testing.T) {
	// Four length bytes hold values above a 32-bit int's range: read into
	// one, 0xFFFFFFFF is -1 and 0x80000000 the most negative int.
	lengths := map[string][]byte{"0xFFFFFFFF": {0x84, 0xff, 0xff, 0xff, 0xff}, "0x80000000": {0x84, 0x80, 0x00, 0x00, 0x00}}
	for name, length := range lengths {
		tests := []struct {
			name string
			msg  []byte
		}{
			{"a message ID", bytes.Join([][]byte{{tagInteger}, length, {0x03}}, nil)},
			{"a protocol operation", bytes.Join([][]byte{berInteger(tagInteger, 3), {opSearchEntry}, length, octets("uid=a")}, nil)},
			{"an attribute value", bytes.Join([][]byte{berInteger(tagInteger, 3), berTLV(opSearchEntry, octets("uid=a"),
				berTLV(tagSequence, berTLV(tagSequence, octets("cn"), berTLV(tagSet, append([]byte{tagOctetString}, append(length, "abc"...)...)))))}, nil)},
			{"a paging cookie", doneMsg(3, 0, "", berTLV(tagSequence, octets(goldap.ControlTypePaging),
				berTLV(tagOctetString, berTLV(tagSequence, berInteger(tagInteger, 0), append([]byte{tagOctetString}, length...)))))},
		}
		for _, tt := range tests {
			t.Run(tt.name+" of length "+name+" is an error", func(t *testing.T) {
				if r, err := parseResponse(tt.msg); err == nil {
					t.Errorf("parsed without error: %+v", r)
				}
			})
		}
		t.Run("a message of length "+name+" is refused", func(t *testing.T) {
			stream := append(append([]byte{tagSequence}, length...), good()...)
			if got, err := readMessage(bufio.NewReader(bytes.NewReader(stream))); err == nil {
				t.Errorf("read %d bytes without error", len(got))
			}
		})
	}
	t.Run("a message whose length the stream does not hold allocates no more than arrives", func(t *testing.T) {
		// Just under the bound on one message, followed by one small entry.
		stream := append([]byte{tagSequence, 0x84, 0x03, 0xff, 0xff, 0xff}, good()...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readMessage(bufio.NewReaderSize(bytes.NewReader(stream), 4096))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v, want an unexpected EOF", err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("allocated %d bytes for a stream of %d", n, len(stream))
		}
	})
}

// good is one small search result entry message, outer SEQUENCE included.
func good() []byte {
	return berTLV(tagSequence, entryMsg(1, "uid=a,dc=x", attribute("mail", "a@x")))
}

func TestAnEntryDecodedIntoReusedStorageAllocatesOnlyItsString(t *testing.T) {
	// Decoding is most of a full pass's CPU: the Entry, its attributes and
	// their value lists are reused from entry to entry; only the string
	// users keep is new.
	msg := entryMsg(3, "uid=a,ou=people,dc=x", attribute("mail", "a@x"), attribute("memberOf", "cn=G,dc=x", "cn=H,dc=x"),
		attribute("telephoneNumber", "+1 212 555 0100"), attribute("cn", "A"))
	var buf entryBuf
	if _, err := decodeResponse(msg, &buf); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		r, err := decodeResponse(msg, &buf)
		if err != nil || r.entry.GetAttributeValues("memberOf")[1] != "cn=H,dc=x" {
			t.Fatalf("decoded %+v, %v", r.entry, err)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations an entry, want 1", allocs)
	}
}
