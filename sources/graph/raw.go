package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Graph's answers are read with encoding/json into the few fields a pass
// needs (users, member ids, membership changes): the SDK's
// models build a map of every user property's deserializer for each user,
// which costs more CPU than the rest of a pass. Requests are still built by
// the SDK's request builders and sent by its adapter, so authentication,
// retries on 429/503 and Graph's error body are the SDK's.

// rawUser is the user properties a pass selects.
type rawUser struct {
	ID             string           `json:"id"`
	DisplayName    string           `json:"displayName"`
	UPN            string           `json:"userPrincipalName"`
	Mail           string           `json:"mail"`
	AccountEnabled *bool            `json:"accountEnabled"`
	BusinessPhones []string         `json:"businessPhones"`
	MobilePhone    string           `json:"mobilePhone"`
	Removed        *json.RawMessage `json:"@removed"`
	// extra holds the string-valued properties outside the fields above
	// (directory extensions).
	extra map[string]string
}

// UnmarshalJSON reads the known fields, and the extension properties
// when the user carries any.
func (u *rawUser) UnmarshalJSON(b []byte) error {
	type plain rawUser
	if err := json.Unmarshal(b, (*plain)(u)); err != nil {
		return err
	}
	if !strings.Contains(string(b), `"extension_`) {
		return nil
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	u.extra = map[string]string{}
	for k, v := range all {
		if s, ok := v.(string); ok && strings.HasPrefix(k, "extension_") {
			u.extra[k] = s
		}
	}
	return nil
}

// rawObject is a directory object reduced to its id and type. In
// members@delta a member that left also carries @removed; joining and
// leaving both mean the member is read again, so it is not kept.
type rawObject struct {
	ID   string `json:"id"`
	Type string `json:"@odata.type"`
}

// rawGroup is a group as a look-up or a /groups/delta round gives it.
type rawGroup struct {
	ID          string           `json:"id"`
	DisplayName string           `json:"displayName"`
	Removed     *json.RawMessage `json:"@removed"`
	// Members is the membership changes of this page; a large group's
	// arrive split over several pages.
	Members []rawObject `json:"members@delta"`
}

// rawPage is one page of a collection or of a delta round.
type rawPage[T any] struct {
	Value []T    `json:"value"`
	Next  string `json:"@odata.nextLink"`
	Delta string `json:"@odata.deltaLink"`
}

var errorMapping = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// getJSON sends ri through the SDK's adapter and decodes the body into v.
func (s *Source) getJSON(ctx context.Context, ri *abstractions.RequestInformation, v any) error {
	ri.Headers.TryAdd("Accept", "application/json")
	res, err := s.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		return err
	}
	b, _ := res.([]byte)
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the answer is not the JSON Graph sends: %w", err)
	}
	return nil
}

// getURL is a GET of a link Graph gave (a nextLink or a deltaLink), sent
// as given.
func getURL(link string) *abstractions.RequestInformation {
	ri := abstractions.NewRequestInformation()
	ri.Method = abstractions.GET
	if u, err := url.Parse(link); err == nil {
		ri.SetUri(*u)
	}
	return ri
}

// rawWalk reads a collection from ri page by page, calling each for every
// item as its page arrives and last with the round's deltaLink, if any.
// It returns how many pages arrived; a fetch error is explained, an error
// from each returned as is.
func rawWalk[T any](ctx context.Context, s *Source, what string, ri *abstractions.RequestInformation, each func(T) error, last ...func(string)) (int, error) {
	for n := 0; ; n++ {
		var page rawPage[T]
		if err := s.getJSON(ctx, ri, &page); err != nil {
			if n > 0 {
				what = fmt.Sprintf("%s, page %d", what, n+1)
			}
			return n, s.explain(what, err)
		}
		s.pages.Add(1)
		for _, v := range page.Value {
			if err := each(v); err != nil {
				return n + 1, err
			}
		}
		if page.Next == "" {
			for _, f := range last {
				f(page.Delta)
			}
			return n + 1, nil
		}
		if err := ctx.Err(); err != nil {
			return n + 1, err
		}
		ri = getURL(page.Next)
	}
}
