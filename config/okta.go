package config

// OktaSource is an Okta organisation, read through the Okta management API.
type OktaSource struct {
	OrgURL string `yaml:"org_url"`
}
