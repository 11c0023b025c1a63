package graph

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	licpass "github.com/licensync/licensync/pass"
)

func TestEveryFaultNamesWhatToFixAndLeavesTheCheckpoint(t *testing.T) {
	const wrongSecret = "Wr0ng~secret.Value-77"
	tests := []struct {
		name  string
		fault func(f *fake, cfg *config.GraphSource)
		want  string
	}{
		{"a wrong client secret", func(f *fake, cfg *config.GraphSource) { cfg.ClientSecret = wrongSecret },
			"rejected the client secret of client_id " + fakeClientID + ": check client_secret"},
		{"an expired client secret", func(f *fake, cfg *config.GraphSource) {
			f.tokenError = "AADSTS7000222: The provided client secret keys for app '" + fakeClientID + "' are expired."
		}, "has expired: create a new one under Certificates & secrets in the app registration and update client_secret"},
		{"an unknown tenant", func(f *fake, cfg *config.GraphSource) { cfg.TenantID = "0b1c2d3e-0000-4000-8000-0000000000ff" },
			`tenant "0b1c2d3e-0000-4000-8000-0000000000ff" was not found: check tenant_id, and authority_host for a national cloud`},
		{"an unknown client id", func(f *fake, cfg *config.GraphSource) { cfg.ClientID = "99999999-0000-0000-0000-000000000000" },
			"no application with client_id 99999999-0000-0000-0000-000000000000 is registered in tenant " + fakeTenant},
		{"a missing permission", func(f *fake, cfg *config.GraphSource) { f.deny = true },
			"the app registration lacks permission: grant it the application permissions User.Read.All and GroupMember.Read.All, with admin consent (HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation., request-id 7d3c0f0e-1111-4a2b-9c3d-000000000042)"},
		{"throttling that outlasts the retries", func(f *fake, cfg *config.GraphSource) { f.throttle, f.retryAfter = 100, "0" },
			"Graph kept throttling after the retries it asked for; the next pass tries again (HTTP 429 TooManyRequests"},
		{"a service that does not answer", func(f *fake, cfg *config.GraphSource) {
			cfg.Timeout = config.Duration(200 * time.Millisecond)
			f.hold = func(r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/v1.0/") {
					time.Sleep(time.Second)
				}
			}
		}, "no answer within 200ms (check base_url and the network, or raise timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := demoFake(t, filepath.Join(demo, "directory.csv"))
			o := newOrg(t)
			o.mustPass(o.graph(f.config()), licpass.Apply)
			before := o.checkpoint()
			f.change("u33", func(u *fakeUser) { u.Phones = []string{"+44 20 7183 8751"} })

			cfg := f.config()
			tt.fault(f, &cfg)
			_, _, err := o.pass(o.graph(cfg), licpass.Apply)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant one containing %q", err, tt.want)
			}
			t.Log(err)
			if got := o.checkpoint(); got != before {
				t.Errorf("the checkpoint moved after a failed pass")
			}
			for _, secret := range []string{fakeSecret, wrongSecret} {
				if strings.Contains(err.Error(), secret) || strings.Contains(o.log.String(), secret) {
					t.Errorf("the secret %q shows in the error or the log", secret)
				}
			}
		})
	}
}

func TestACertificateCredentialSignsTheTokenRequest(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	cfg.ClientSecret = ""
	cfg.CertificateFile = config.Secret(selfSigned(t))
	got, _, _ := collect(t, open(t, cfg, "Calling Users").src, "")
	if len(got) != 4 {
		t.Fatalf("got %d users, want 4 with a certificate credential", len(got))
	}
}

func TestABrokenCertificateIsReportedWhenTheSourceOpens(t *testing.T) {
	cfg := newFake(t).config()
	cfg.ClientSecret = ""
	cfg.CertificateFile = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
	_, err := Open(cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate_file: no certificate and private key could be read") {
		t.Fatalf("error = %v, want one naming certificate_file", err)
	}
}

func TestAnUntrustedServerIsATLSErrorNamingCAFile(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	cfg.CAFile = ""
	_, _, err := open(t, cfg).src.Users(t.Context(), "", nil)
	if err == nil || !strings.Contains(err.Error(), "check ca_file") {
		t.Fatalf("error = %v, want a TLS error naming ca_file", err)
	}
}

// selfSigned returns a PEM certificate and its private key.
func selfSigned(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "licensync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}
