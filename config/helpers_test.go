package config

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

func mustNode(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

func reflectOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
