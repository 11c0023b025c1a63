package graph

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/licensync/licensync/internal/benchhttp"
	"github.com/licensync/licensync/licensing"
)

const benchUsers = 100_000

// tenant is n users served in pages of 999: all but the last thousand (or
// tenth, when fewer) in Calling Users, a tenth of those through a nested
// group.
func tenant(tb testing.TB, n int) *fake {
	f := newFake(tb)
	f.deltaPage = 200
	calling := &fakeGroup{ID: callingID, Name: "Calling Users"}
	nested := &fakeGroup{ID: "g-nested", Name: "Calling Users EMEA"}
	calling.Members = append(calling.Members, nested.ID)
	outside := n - min(1000, n/10)
	for i := range n {
		id := fmt.Sprintf("u%06d", i)
		f.addUser(&fakeUser{ID: id, UPN: id + "@corp.onmicrosoft.com", Mail: id + "@corp.example", Name: "User " + id,
			Phones: []string{fmt.Sprintf("+1212%07d", i)}, Enabled: true})
		switch {
		case i >= outside:
		case i%10 == 0:
			nested.Members = append(nested.Members, id)
		default:
			calling.Members = append(calling.Members, id)
		}
	}
	f.addGroup(calling)
	f.addGroup(nested)
	return f
}

// peak samples the heap in use while a pass runs.
type peak struct{ base, max uint64 }

func newPeak() *peak {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &peak{base: m.HeapInuse}
}

func (p *peak) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p.max = max(p.max, m.HeapInuse)
}

// report adds the peak heap above the baseline and the process's peak
// RSS (which includes the fake server) to the benchmark's metrics.
func (p *peak) report(b *testing.B) {
	if p.max > p.base {
		b.ReportMetric(float64(p.max-p.base)/(1<<20), "peak-heap-MB")
	}
	if s, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
			}
		}
	}
}

func benchPass(b *testing.B, src *Source, since string, p *peak) (string, bool, int) {
	n := 0
	next, full, err := src.Users(context.Background(), since, func(licensing.DirectoryUser) error {
		n++
		if n%5000 == 0 {
			p.sample()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	p.sample()
	return next, full, n
}

func BenchmarkFullPass100kUsers(b *testing.B) {
	f := tenant(b, benchUsers)
	cfg := f.config()
	src, err := Open(cfg, []string{"Calling Users"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	p := newPeak()
	b.ResetTimer()
	for b.Loop() {
		_, full, n := benchPass(b, src, "", p)
		if !full || n != benchUsers {
			b.Fatalf("full %v, %d users; want a full pass over %d", full, n, benchUsers)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(src.Stats().Requests)/float64(b.N), "requests/op")
	p.report(b)
}

func BenchmarkDeltaPass100Changes(b *testing.B) {
	f := tenant(b, benchUsers)
	src, err := Open(f.config(), []string{"Calling Users"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	p := newPeak()
	cp, _, _ := benchPass(b, src, "", p)
	round := 0
	p = newPeak()
	before := src.Stats().Requests
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		// 90 phone changes and 10 users joining Calling Users.
		for i := range 90 {
			f.change(fmt.Sprintf("u%06d", (round*90+i)%(benchUsers-1000)), func(u *fakeUser) { u.Phones = []string{"+12125550100"} })
		}
		for i := range 10 {
			f.join(callingID, fmt.Sprintf("u%06d", benchUsers-1000+(round*10+i)%1000), false)
		}
		round++
		b.StartTimer()
		next, full, n := benchPass(b, src, cp, p)
		if full || n != 100 {
			b.Fatalf("full %v, %d users; want an incremental pass over the 100 changed", full, n)
		}
		cp = next
	}
	b.StopTimer()
	b.ReportMetric(float64(src.Stats().Requests-before)/float64(b.N), "requests/op")
	p.report(b)
}

// BenchmarkQuietDeltaPass100kUsers times a delta pass over 100,000 users
// when nothing changed since the last: what the daemon does most of the day.
// Its yardstick, from the same run, is one bare request to the same server
// (a page of one user), timed the same way.
func BenchmarkQuietDeltaPass100kUsers(b *testing.B) {
	f := tenant(b, benchUsers)
	src, err := Open(f.config(), []string{"Calling Users"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	p := newPeak()
	cp, _, _ := benchPass(b, src, "", p)
	p = newPeak()
	before := len(f.log())
	b.ResetTimer()
	for b.Loop() {
		next, full, n := benchPass(b, src, cp, p)
		if full || n != 0 {
			b.Fatalf("full %v, %d users; want a delta pass that reads nobody", full, n)
		}
		cp = next
	}
	b.StopTimer()
	b.ReportMetric(float64(len(f.log())-before)/float64(b.N), "requests/pass")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(f.bareRequest(b, b.N), "bare-request-s")
	p.report(b)
}

// bareRequest times n single requests for one page of one user, each on a
// warm connection as the source's are, and returns the mean in seconds.
func (f *fake) bareRequest(b *testing.B, n int) float64 {
	f.mu.Lock()
	f.access["bench-token"] = true
	f.mu.Unlock()
	return benchhttp.MeanGet(b, f.srv.Client(), n, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/v1.0/users?$top=1&$select="+strings.Join(f.wantSelect, ","), nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer bench-token")
		}
		return req, err
	})
}
