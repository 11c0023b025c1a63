// Package benchhttp times bare requests to a test server: the yardstick the
// sources' benchmarks print next to a pass against the same server.
package benchhttp

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// MeanGet sends one request made by newReq to warm the connection, then n
// more, each read to the end, and returns their mean time in seconds. A
// request that fails or is not answered 200 fails the benchmark.
func MeanGet(b testing.TB, c *http.Client, n int, newReq func() (*http.Request, error)) float64 {
	b.Helper()
	get := func() {
		req, err := newReq()
		if err != nil {
			b.Fatal(err)
		}
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("a bare request: %s, %v", res.Status, err)
		}
	}
	get()
	start := time.Now()
	for range n {
		get()
	}
	return time.Since(start).Seconds() / float64(n)
}
