package okta

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

const (
	defaultPageSize = 200
	// memberPageSize is the page size for group members, which Okta
	// allows larger than for users.
	memberPageSize  = 1000
	groupPageSize   = 200
	defaultTimeout  = 30 * time.Second
	defaultOverlap  = 2 * time.Minute
	defaultEmail    = "email"
	defaultName     = "displayName"
	defaultPhone    = "primaryPhone"
	userAgentSuffix = "licensync"
)

// DefaultScopes are what a service app asks for: reading users and groups.
var DefaultScopes = []string{"okta.users.read", "okta.groups.read"}

// Options are what the source needs besides its configuration.
type Options struct {
	Log *zap.Logger
	// TemplateGroups are the groups the licence templates name. A user's
	// memberships in them (and in the configured scope groups) are
	// reported as the group's name and id; other groups are not read.
	TemplateGroups []string
}

// Source reads users from an Okta organisation through the Okta SDK. It
// is not safe for concurrent passes.
type Source struct {
	cfg    config.OktaSource
	opt    Options
	log    *zap.Logger
	client *okta.Client
	tr     *transport
	hc     *http.Client
	clock  clock
	org    string

	pages, users atomic.Int64
}

// Open checks cfg and builds the SDK client; it sends no request.
func Open(ctx context.Context, cfg config.OktaSource, opt Options) (*Source, error) {
	return open(ctx, cfg, opt, http.DefaultTransport.(*http.Transport).Clone(), realClock{})
}

func open(ctx context.Context, cfg config.OktaSource, opt Options, base http.RoundTripper, clk clock) (*Source, error) {
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	cfg = withDefaults(cfg)
	org := strings.TrimRight(cfg.OrgURL, "/")
	u, err := url.Parse(org)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("okta: %q is not an address like https://example.okta.com (check source.okta.org_url)", cfg.OrgURL)
	}
	plainLocal := u.Scheme == "http" && config.IsLoopback(u.Hostname())
	if u.Scheme != "https" && !plainLocal {
		return nil, fmt.Errorf("okta: %s must use https (check source.okta.org_url)", org)
	}
	s := &Source{cfg: cfg, opt: opt, log: opt.Log, clock: clk, org: org}
	s.tr = newTransport(base, clk, cfg.Timeout.D(), opt.Log)
	s.hc = &http.Client{Transport: s.tr}
	// The SDK's own timeout covers a whole call, the waits for rate limit
	// windows included; each attempt has the configured timeout.
	whole := time.Duration(errorRetries+throttleRetries+1)*cfg.Timeout.D() + throttleRetries*maxWait
	setters := []okta.ConfigSetter{
		okta.WithOrgUrl(org),
		okta.WithHttpClientPtr(s.hc),
		okta.WithCache(false), okta.WithCacheTtl(0), okta.WithCacheTti(0),
		okta.WithConnectionTimeout(int64(cfg.Timeout.D() / time.Second)),
		okta.WithRequestTimeout(int64(whole / time.Second)),
		// 429s are waited out by the transport, which also paces.
		okta.WithRateLimitMaxRetries(0), okta.WithRateLimitMaxBackOff(int64(maxWait / time.Second)),
		okta.WithTestingDisableHttpsCheck(plainLocal),
		okta.WithUserAgentExtra(userAgentSuffix),
		okta.WithProxyHost(""), okta.WithProxyPort(0), okta.WithProxyUsername(""), okta.WithProxyPassword(""),
		okta.WithClientAssertion(""),
	}
	if cfg.Token != "" {
		setters = append(setters, okta.WithAuthorizationMode("SSWS"), okta.WithToken(cfg.Token.Value()),
			okta.WithClientId(""), okta.WithScopes(nil), okta.WithPrivateKey(""), okta.WithPrivateKeyId(""))
	} else {
		key, err := readKey(cfg.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		signer, err := okta.CreateKeySigner(key, cfg.PrivateKeyID)
		if err != nil {
			return nil, fmt.Errorf("okta: private_key_file %s: %w", cfg.PrivateKeyFile, err)
		}
		setters = append(setters, okta.WithAuthorizationMode("PrivateKey"), okta.WithToken(""),
			okta.WithClientId(cfg.ClientID), okta.WithScopes(cfg.Scopes), okta.WithPrivateKey(""),
			okta.WithPrivateKeyId(cfg.PrivateKeyID), okta.WithPrivateKeySigner(signer))
	}
	_, client, err := okta.NewClient(ctx, setters...)
	if err != nil {
		return nil, fmt.Errorf("okta: %s: %w", org, err)
	}
	s.client = client
	return s, nil
}

func withDefaults(cfg config.OktaSource) config.OktaSource {
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.Duration(defaultTimeout)
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = config.Duration(defaultOverlap)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	a := &cfg.Attributes
	a.Email = or(a.Email, defaultEmail)
	a.DisplayName = or(a.DisplayName, defaultName)
	a.WorkPhone = or(a.WorkPhone, defaultPhone)
	return cfg
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// readKey reads the service app's RSA private key, PKCS#1 or PKCS#8 PEM,
// and returns it as PKCS#1 PEM. The SDK reads only PKCS#1, and exits the
// process when a key file is unreadable, so the key is read here and handed
// to it as a signer.
func readKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("okta: reading private_key_file: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("okta: private_key_file %s holds no PEM key", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return "", fmt.Errorf("okta: private_key_file %s: %w", path, err)
		}
		return string(pem.EncodeToMemory(block)), nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("okta: private_key_file %s: %w", path, err)
		}
		rsaKey, ok := k.(*rsa.PrivateKey)
		if !ok {
			return "", fmt.Errorf("okta: private_key_file %s holds a %T key; Okta service apps sign with RSA", path, k)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})), nil
	}
	return "", fmt.Errorf("okta: private_key_file %s holds a %q block, not an RSA private key", path, block.Type)
}

// Stats returns the counts so far.
func (s *Source) Stats() Stats {
	st := s.tr.stats()
	st.Pages, st.Users = s.pages.Load(), s.users.Load()
	return st
}

// Traffic returns the request counts so far, for the service's metrics.
func (s *Source) Traffic() licensing.Traffic {
	st := s.tr.stats()
	return licensing.Traffic{Requests: st.Requests, Retries: st.Retries, Throttled: st.Throttled}
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.hc.CloseIdleConnections()
	return nil
}

// Users implements the sync.Source port.
func (s *Source) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	p := &pass{s: s, emit: emit}
	next, full, err := p.run(ctx, since)
	if err != nil {
		if ee := (*emitError)(nil); errors.As(err, &ee) {
			return "", false, ee.err
		}
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		return "", false, err
	}
	return next, full, nil
}
