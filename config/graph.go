package config

// GraphSource is Microsoft Entra ID, read through Microsoft Graph.
type GraphSource struct {
	TenantID string `yaml:"tenant_id"`
}
