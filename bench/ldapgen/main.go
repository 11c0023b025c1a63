// Command ldapgen turns the synthetic directory.csv that bench/gen writes
// into AD-like LDIF for slapd (the look-alike schema in testdata/demo/ldap):
// one entry per user under ou=people with objectGUID, userAccountControl,
// userPrincipalName and memberOf as AD keeps them, and each group as a
// groupOfNames under ou=groups.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
)

const (
	suffix = "dc=example,dc=com"
	people = "ou=people," + suffix
	groups = "ou=groups," + suffix
)

func main() {
	in := flag.String("in", "bench/out/ldap/directory.csv", "directory.csv written by bench/gen")
	out := flag.String("out", "bench/out/ldap/directory.ldif", "LDIF to write")
	flag.Parse()
	if err := convert(*in, *out); err != nil {
		log.Fatal(err)
	}
}

func convert(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(o, 1<<20)
	entry := func(dn string, lines ...string) { fmt.Fprintf(w, "dn: %s\n%s\n\n", dn, strings.Join(lines, "\n")) }
	entry(suffix, "objectClass: dcObject", "objectClass: organization", "o: Example", "dc: example")
	entry(people, "objectClass: organizationalUnit", "ou: people")
	entry(groups, "objectClass: organizationalUnit", "ou: groups")
	r := csv.NewReader(bufio.NewReader(f))
	if _, err := r.Read(); err != nil {
		return fmt.Errorf("%s: header: %w", in, err)
	}
	members := map[string][]string{}
	var order []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		id, email, name, phone, enabled, grps := rec[0], rec[1], rec[2], rec[3], rec[4], rec[5]
		dn := "uid=" + id + "," + people
		uac := "512"
		if enabled == "false" {
			uac = "514"
		}
		guid := sha256.Sum256([]byte(id))
		lines := []string{"objectClass: inetOrgPerson", "objectClass: user", "objectCategory: person",
			"uid: " + id, "cn: " + name, "sn: " + id, "displayName: " + name, "mail: " + email,
			"sAMAccountName: " + id, "userPrincipalName: " + id + "@corp.local",
			"objectGUID:: " + base64.StdEncoding.EncodeToString(guid[:16]), "userAccountControl: " + uac}
		if phone != "" {
			lines = append(lines, "telephoneNumber: "+phone)
		}
		for _, g := range strings.Split(grps, ";") {
			if g == "" {
				continue
			}
			if _, seen := members[g]; !seen {
				order = append(order, g)
			}
			members[g] = append(members[g], dn)
			lines = append(lines, "memberOf: cn="+g+","+groups)
		}
		entry(dn, lines...)
	}
	for _, g := range order {
		fmt.Fprintf(w, "dn: cn=%s,%s\nobjectClass: groupOfNames\nobjectClass: group\ncn: %s\n", g, groups, g)
		for _, m := range members[g] {
			fmt.Fprintf(w, "member: %s\n", m)
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return o.Close()
}
