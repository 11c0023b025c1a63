package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem with the configuration, at one field path.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Errors is every problem found in one configuration file.
type Errors struct {
	File string
	List []Error
}

func (e *Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d configuration error(s):", e.File, len(e.List))
	for _, x := range e.List {
		b.WriteString("\n  " + x.Error())
	}
	return b.String()
}

func (e *Errors) add(path string, line int, format string, args ...any) {
	if path == "" {
		// The document itself: a file that is a list or a single value.
		path = "(file)"
	}
	e.List = append(e.List, Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Secret is a configuration value that must never be shown: its String and
// its YAML and JSON forms are redacted.
type Secret string

// Value returns the secret itself, for the one place that sends it.
func (s Secret) Value() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalJSON keeps secrets out of any JSON a config ends up in.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// decoder fills Go values from YAML nodes, strictly, collecting errors.
type decoder struct {
	errs    *Errors
	dir     string // the config file's folder
	lookup  func(string) (string, bool)
	credDir string
	// given records the path of every struct field the file sets to a
	// value, so that an explicit 0 can be told from an absent key.
	given map[string]bool

	// The alias guard: an alias (*name) is decoded by walking its anchor's
	// node again, so nested aliases (a "billion laughs" file) multiply the
	// work. decoded counts the values walked, aliased those walked inside an
	// alias, and stopped ends the walk once they are out of proportion.
	decoded, aliased int
	inAlias          int
	stopped          bool
}

// The alias guard's limits, those of yaml.v3's own decoder: up to 400,000
// values the aliases may make up 99% of them, from 4,000,000 only 10%.
const (
	aliasRatioRangeLow  = 400_000
	aliasRatioRangeHigh = 4_000_000
)

// allowedAliasRatio is the largest share of the decoded values that may come
// from aliases once decoded values have been walked.
func allowedAliasRatio(decoded int) float64 {
	switch {
	case decoded <= aliasRatioRangeLow:
		return 0.99
	case decoded >= aliasRatioRangeHigh:
		return 0.10
	default:
		return 0.99 - 0.89*float64(decoded-aliasRatioRangeLow)/float64(aliasRatioRangeHigh-aliasRatioRangeLow)
	}
}

// tick counts one value walked and reports whether decoding goes on; it
// stops the whole decode, with one error at path, when aliases expand the
// file far beyond its own size.
func (d *decoder) tick(path string, line int) bool {
	if d.stopped {
		return false
	}
	d.decoded++
	if d.inAlias > 0 {
		d.aliased++
	}
	if d.aliased > 100 && d.decoded > 1000 && float64(d.aliased)/float64(d.decoded) > allowedAliasRatio(d.decoded) {
		d.errs.add(path, line, "excessive aliasing: the aliases (*name) expand to more than %d values from a file that holds %d of them itself; "+
			"nothing after this point was read", d.aliased, d.decoded-d.aliased)
		d.stopped = true
		return false
	}
	return true
}

// alias decodes the anchor an alias refers to. An anchor that contains an
// alias to itself ends at a type mismatch: no configuration type contains
// itself.
func (d *decoder) alias(path string, n *yaml.Node, v reflect.Value) {
	d.inAlias++
	d.decode(path, n.Alias, v)
	d.inAlias--
}

var (
	secretType   = reflect.TypeOf(Secret(""))
	durationType = reflect.TypeOf(Duration(0))
)

// maxReferencedFile bounds what a file: reference may hold. Secrets,
// certificates and keys are a few KiB; a reference to /dev/zero or a log
// file by mistake must fail, not take the memory.
const maxReferencedFile = 1 << 20

// errTooLarge is returned for a referenced file over maxReferencedFile.
var errTooLarge = errors.New("it holds more than 1 MiB, which no secret, certificate or key does")

// readBounded reads at most limit bytes of the file at p, and fails when
// there are more.
func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// expand resolves ${ENV} and file: references in a scalar.
func (d *decoder) expand(path string, n *yaml.Node) (string, bool) {
	v := n.Value
	if n.Tag == "!!null" {
		return "", true
	}
	if rest, ok := strings.CutPrefix(v, "file:"); ok {
		p := strings.TrimSpace(rest)
		if !filepath.IsAbs(p) {
			base := d.dir
			if d.credDir != "" {
				base = d.credDir
			}
			p = filepath.Join(base, p)
		}
		b, err := readBounded(p, maxReferencedFile)
		if err != nil {
			d.errs.add(path, n.Line, "cannot read the file it refers to: %v", pathErr(err))
			return "", false
		}
		return strings.TrimRight(string(b), "\r\n"), true
	}
	if !strings.Contains(v, "${") {
		return v, true
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			break
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			d.errs.add(path, n.Line, "unterminated ${ in %q", n.Value)
			return "", false
		}
		name := v[i+2 : i+j]
		val, ok := d.lookup(name)
		if !ok {
			d.errs.add(path, n.Line, "environment variable %s is not set", name)
			return "", false
		}
		b.WriteString(v[:i])
		b.WriteString(val)
		v = v[i+j+1:]
	}
	return b.String(), true
}

func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// decode fills v (addressable) from n.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if !d.tick(path, n.Line) {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.alias(path, n, v)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Kind() != reflect.String {
		return
	}
	switch {
	case v.Type() == durationType:
		s, ok := d.scalar(path, n)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur < 0 {
			d.errs.add(path, n.Line, "%q is not a duration (write it like 30s, 5m or 1h30m)", s)
			return
		}
		v.SetInt(int64(dur))
		return
	case v.Type() == secretType:
		if s, ok := d.scalar(path, n); ok {
			v.SetString(s)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(path, n, v.Elem())
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			// A single string where a list is expected: accept it as a
			// one-element list, as people write "groups: Calling Users".
			s, ok := d.scalar(path, n)
			if ok {
				v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), reflect.ValueOf(s).Convert(v.Type().Elem())))
			}
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errs.add(path, n.Line, "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(fmt.Sprintf("%s[%d]", path, i), c, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errs.add(path, n.Line, "expected a mapping, found %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(path+"."+k, n.Content[i+1], ev)
			m.SetMapIndex(reflect.ValueOf(k), ev)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(path, n); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(path, n)
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off", "":
			v.SetBool(false)
		default:
			d.errs.add(path, n.Line, "%q is not true or false", s)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		s, ok := d.scalar(path, n)
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			d.errs.add(path, n.Line, "%q is not a whole number", s)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := d.scalar(path, n)
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d.errs.add(path, n.Line, "%q is not a number", s)
			return
		}
		v.SetFloat(f)
	default:
		d.errs.add(path, n.Line, "unsupported field type %s", v.Type())
	}
}

func (d *decoder) scalar(path string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errs.add(path, n.Line, "expected a single value, found %s", kindName(n))
		return "", false
	}
	return d.expand(path, n)
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errs.add(path, n.Line, "expected a mapping, found %s", kindName(n))
		return
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		idx, ok := fields[k.Value]
		if !ok {
			if !d.tick(p, k.Line) {
				return
			}
			d.errs.add(p, k.Line, "unknown key (known here: %s)", strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errs.add(p, k.Line, "key given twice")
			continue
		}
		seen[k.Value] = true
		val := n.Content[i+1]
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if d.given != nil && (val.Kind != yaml.ScalarNode || val.Tag != "!!null") {
			d.given[p] = true
		}
		d.decode(p, n.Content[i+1], v.Field(idx))
	}
}
