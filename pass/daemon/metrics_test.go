package daemon

import (
	"strings"
	"testing"
)

func TestTrafficAddsUpOverPassesPerSide(t *testing.T) {
	m := NewMetrics()
	m.AddTraffic(SideTarget, 120, 7, 3)
	m.AddTraffic(SideTarget, 30, 1, 0)
	m.AddTraffic(SideSource, 4, 0, 0)
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`licensync_requests_total{side="target"} 150`,
		`licensync_retries_total{side="target"} 8`,
		`licensync_throttled_total{side="target"} 3`,
		`licensync_requests_total{side="source"} 4`,
		`licensync_throttled_total{side="source"} 0`,
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}
