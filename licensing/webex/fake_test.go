package webex

import (
	"testing"
	"time"

	"github.com/licensync/licensync/internal/webextest"
)

// fake is the Webex test server with the helpers these tests add to it.
type fake struct{ *webextest.Server }

type (
	fakePerson  = webextest.Person
	fakeLicence = webextest.Licence
	fakeNumber  = webextest.Number
)

func newFake(t testing.TB) *fake { return &fake{webextest.New(t)} }

func num(i int) string { return webextest.Num(i) }

func (f *fake) client(t testing.TB, opt Options) *Client {
	t.Helper()
	opt.BaseURL = f.HTTP.URL + "/v1"
	if opt.Token == "" && opt.RefreshToken == "" {
		opt.Token = "tok-0"
	}
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	if opt.Rate == 0 {
		opt.Rate = 10000
	}
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
