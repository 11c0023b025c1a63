package ldap

import (
	"encoding/base64"
	"fmt"
	"strings"
)

const (
	people = "ou=people," + suffix
	groups = "ou=groups," + suffix
	adBase = "ou=ad," + suffix
	// ntdsDN is the AD look-alike's NTDS Settings object of its one DC.
	ntdsDN = "cn=NTDS Settings,cn=DC1," + adBase
)

// userDN is the DN of test user i.
func userDN(i int) string { return fmt.Sprintf("uid=u%04d,%s", i, people) }

func groupDN(name string) string { return "cn=" + name + "," + groups }

// adGUID is the objectGUID of the AD look-alike user Ann, as stored, and
// guidText its standard string form.
var (
	adGUID   = []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	guidText = "00112233-4455-6677-8899-aabbccddeeff"
)

// directory returns the test directory as LDIF: n users, every seventh one
// disabled (userAccountControl 514), and these groups:
//
//	all-staff  <- sales, support
//	sales      <- sales-emea, newcomers, u0000..u0009
//	sales-emea <- sales (a cycle), u0010..u0019
//	support    <- u0020
//	newcomers  <- u0021 (groupOfUniqueNames, which the memberof overlay
//	              does not track, so only the group itself changes)
//
// and an AD look-alike subtree ou=ad with Ann (mail), Bob (disabled, only a
// userPrincipalName), groups IT <- Admins <- Ann, with memberOf and
// uSNChanged set as AD keeps them, and the NTDS Settings object of a DC.
func directory(n int) string {
	var b strings.Builder
	entry := func(dn string, lines ...string) {
		fmt.Fprintf(&b, "dn: %s\n%s\n\n", dn, strings.Join(lines, "\n"))
	}
	entry(suffix, "objectClass: dcObject", "objectClass: organization", "o: Example", "dc: example")
	for _, ou := range []string{people, groups, adBase} {
		entry(ou, "objectClass: organizationalUnit", "ou: "+strings.TrimPrefix(strings.Split(ou, ",")[0], "ou="))
	}
	entry("cn=reader,"+suffix, "objectClass: person", "cn: reader", "sn: reader", "userPassword: reader-pw")
	for i := 0; i < n; i++ {
		uac := "512"
		if i%7 == 0 {
			uac = "514"
		}
		entry(userDN(i), "objectClass: inetOrgPerson", "objectClass: user",
			fmt.Sprintf("uid: u%04d", i), fmt.Sprintf("cn: User %d", i), "sn: User",
			fmt.Sprintf("displayName: User %d", i), fmt.Sprintf("mail: u%04d@example.com", i),
			fmt.Sprintf("telephoneNumber: +1 415 555 %04d", i), "userAccountControl: "+uac)
	}
	members := func(attr string, dns ...string) []string {
		out := make([]string, len(dns))
		for i, dn := range dns {
			out[i] = attr + ": " + dn
		}
		return out
	}
	group := func(name string, dns ...string) {
		entry(groupDN(name), append([]string{"objectClass: groupOfNames", "cn: " + name}, members("member", dns...)...)...)
	}
	var sales, emea []string
	for i := 0; i < 10; i++ {
		sales = append(sales, userDN(i))
		emea = append(emea, userDN(10+i))
	}
	group("all-staff", groupDN("sales"), groupDN("support"))
	group("sales", append([]string{groupDN("sales-emea"), groupDN("newcomers")}, sales...)...)
	group("sales-emea", append([]string{groupDN("sales")}, emea...)...)
	group("support", userDN(20))
	entry(groupDN("newcomers"), append([]string{"objectClass: groupOfUniqueNames", "cn: newcomers"}, members("uniqueMember", userDN(21))...)...)

	ann, bob := "cn=Ann,"+adBase, "cn=Bob,"+adBase
	admins, it := "cn=Admins,"+adBase, "cn=IT,"+adBase
	entry(ann, "objectClass: inetOrgPerson", "objectClass: user", "cn: Ann", "sn: Ann", "objectCategory: person",
		"objectGUID:: "+base64.StdEncoding.EncodeToString(adGUID), "mail: ann@corp.example", "userPrincipalName: ann@corp.local",
		"telephoneNumber: +44 20 7946 0000", "userAccountControl: 512", "memberOf: "+admins, "uSNChanged: 900")
	entry(bob, "objectClass: inetOrgPerson", "objectClass: user", "cn: Bob", "sn: Bob", "objectCategory: person",
		"objectGUID:: "+base64.StdEncoding.EncodeToString(make([]byte, 16)), "userPrincipalName: bob@corp.example",
		"userAccountControl: 514", "uSNChanged: 950")
	entry(admins, "objectClass: groupOfNames", "objectClass: group", "cn: Admins", "member: "+ann, "memberOf: "+it, "uSNChanged: 800")
	entry(it, "objectClass: groupOfNames", "objectClass: group", "cn: IT", "member: "+admins, "uSNChanged: 800")
	entry("cn=DC1,"+adBase, "objectClass: device", "cn: DC1")
	entry(ntdsDN, "objectClass: applicationProcess", "objectClass: nTDSDSA", "cn: NTDS Settings",
		"invocationId:: "+base64.StdEncoding.EncodeToString(adGUID))
	return b.String()
}
