package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	coreauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

const (
	// DefaultBaseURL is the global Graph service.
	DefaultBaseURL = "https://graph.microsoft.com"
	// DefaultAuthorityHost is the global identity endpoint.
	DefaultAuthorityHost = "https://login.microsoftonline.com/"

	defaultPageSize = 999
	defaultTimeout  = 30 * time.Second
)

// Stats counts the Graph requests the source made, over all passes, as the
// service's metrics read them.
type Stats struct {
	// Requests is every request sent to Graph, retries included (token
	// requests to the identity endpoint are not counted).
	Requests int64
	// Retries is the requests that repeated one the service refused.
	Retries int64
	// Throttled is the responses that asked to slow down (429, 503).
	Throttled int64
	// Pages is the pages of users, members and changes read.
	Pages int64
	// Users is the users emitted.
	Users int64
}

// Source reads users from Entra ID. It is not safe for concurrent passes.
type Source struct {
	cfg      config.GraphSource
	log      *zap.Logger
	adapter  abstractions.RequestAdapter
	cred     azcore.TokenCredential
	scope    string // the token scope: base_url's /.default
	root     string // the versioned service root, https://graph.microsoft.com/v1.0
	idle     func() // closes idle connections
	template []string

	requests, retries, throttled, pages, users atomic.Int64
}

// Open checks the configuration and builds the Graph client. templateGroups
// are the groups the licence templates name: the source reports memberships
// of these (and of the scope groups) only. Open makes no request: a wrong
// credential shows on the first pass.
func Open(cfg config.GraphSource, templateGroups []string, log *zap.Logger) (*Source, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = withDefaults(cfg)
	s := &Source{cfg: cfg, log: log, template: templateGroups, root: strings.TrimRight(cfg.BaseURL, "/") + "/v1.0"}

	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("graph: reading ca_file: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("graph: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = roots
	}
	timeout := cfg.Timeout.D()
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	s.idle = base.CloseIdleConnections

	cred, err := credential(cfg, &http.Client{Transport: base, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	host, err := hostOf(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	// The convenience constructors send no token to a host outside their
	// built-in list (a test server, a private cloud): name it explicitly,
	// and ask for the Graph resource of the cloud base_url points at.
	s.cred, s.scope = cred, strings.TrimRight(cfg.BaseURL, "/")+"/.default"
	auth, err := coreauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{s.scope}, []string{host})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication: %w", err)
	}
	opts := core.GraphClientOptions{GraphServiceLibraryVersion: "licensync"}
	client := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(&counting{s: s, next: base, timeout: timeout}, core.GetDefaultMiddlewaresWithOptions(&opts)...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	registerSerializers()
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, nil, nil, client)
	if err != nil {
		return nil, fmt.Errorf("graph: client: %w", err)
	}
	adapter.SetBaseUrl(s.root)
	s.adapter = adapter
	return s, nil
}

func withDefaults(cfg config.GraphSource) config.GraphSource {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = DefaultAuthorityHost
	}
	if !strings.HasSuffix(cfg.AuthorityHost, "/") {
		cfg.AuthorityHost += "/"
	}
	if cfg.Attributes.WorkPhone == "" {
		cfg.Attributes.WorkPhone = "businessPhones"
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.Duration(defaultTimeout)
	}
	cfg.TenantID = strings.TrimSpace(cfg.TenantID)
	cfg.ClientID = strings.TrimSpace(cfg.ClientID)
	return cfg
}

// credential is the client-credentials token source the configuration
// names: a secret or a certificate.
func credential(cfg config.GraphSource, client *http.Client) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost},
		Transport: client,
		// A refused credential does not improve with retries; a flaky
		// network gets two more tries.
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}
	// Instance discovery asks the global cloud whether the authority is
	// known; a national, private or test authority is trusted as given.
	noDiscovery := !strings.EqualFold(cfg.AuthorityHost, DefaultAuthorityHost)
	if cfg.CertificateFile != "" {
		certs, key, err := azidentity.ParseCertificates([]byte(cfg.CertificateFile.Value()), []byte(cfg.CertificatePassword.Value()))
		if err != nil {
			return nil, fmt.Errorf("graph: certificate_file: no certificate and private key could be read from it (check the PEM, and certificate_password for an encrypted key): %v", redactErr(err, cfg))
		}
		c, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery, SendCertificateChain: true})
		if err != nil {
			return nil, fmt.Errorf("graph: certificate_file: %v (check tenant_id, client_id and authority_host)", redactErr(err, cfg))
		}
		return c, nil
	}
	c, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret.Value(),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	if err != nil {
		return nil, fmt.Errorf("graph: %v (check tenant_id, client_id and authority_host)", redactErr(err, cfg))
	}
	return c, nil
}

func hostOf(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok {
		return "", fmt.Errorf("graph: base_url %q must be https", raw)
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h, nil
	}
	return host, nil
}

var serializers atomic.Bool

// registerSerializers installs the JSON and text parsers the adapter reads
// responses with, once per process (the registry is global).
func registerSerializers() {
	if !serializers.CompareAndSwap(false, true) {
		return
	}
	abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
	abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
	abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
	abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
}

// Stats returns the counts so far.
func (s *Source) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Retries: s.retries.Load(), Throttled: s.throttled.Load(), Pages: s.pages.Load(), Users: s.users.Load()}
}

// Traffic returns the request counts so far, for the service's metrics.
func (s *Source) Traffic() licensing.Traffic {
	return licensing.Traffic{Requests: s.requests.Load(), Retries: s.retries.Load(), Throttled: s.throttled.Load()}
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.idle()
	return nil
}

// counting sits below the SDK's retry handler, so it sees every attempt: it
// counts them and bounds each one by the configured timeout, body included.
type counting struct {
	s       *Source
	next    http.RoundTripper
	timeout time.Duration
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.s.requests.Add(1)
	if req.Header.Get("Retry-Attempt") != "" {
		c.s.retries.Add(1)
	}
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	resp, err := c.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	licensing.Answered(req.Context())
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		c.s.throttled.Add(1)
	}
	// The SDK's retry handler above waits out a Retry-After before the
	// next attempt; that wait is the pass's work, not a hang.
	if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
		licensing.Waiting(req.Context(), d)
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// maxRetryAfter is the longest wait the SDK's retry handler makes for one
// Retry-After.
const maxRetryAfter = 180 * time.Second

// retryAfter reads a Retry-After header, in seconds or as a date, capped.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && s > 0 {
		return min(time.Duration(s*float64(time.Second)), maxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter), true
	}
	return 0, false
}

// cancelBody ends the request's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
