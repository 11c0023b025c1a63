package config

import "github.com/licensync/licensync/licensing"

// Policy returns the decision policy the configuration describes.
func (c *Config) Policy() *licensing.Policy {
	p := &licensing.Policy{DefaultRegion: c.Phone.DefaultRegion, ConsumerDomains: c.ConsumerDomains}
	if p.ConsumerDomains == nil {
		p.ConsumerDomains = licensing.DefaultConsumerDomains
	}
	for _, t := range c.Templates {
		lt := licensing.Template{Name: t.Name, Groups: t.Groups}
		for _, l := range t.Licenses {
			lt.Licences = append(lt.Licences, licensing.LicenceRef{ID: l.ID, Name: l.Name, Subscription: l.Subscription})
		}
		p.Templates = append(p.Templates, lt)
	}
	return p
}
