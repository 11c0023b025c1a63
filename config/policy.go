package config

import "github.com/licensync/licensync/licensing"

// Policy returns the decision policy the configuration describes.
func (c *Config) Policy() *licensing.Policy {
	p := &licensing.Policy{DefaultRegion: c.Phone.DefaultRegion, ConsumerDomains: c.ConsumerDomains,
		Removals: licensing.Removals{Acknowledge: c.Removals.Acknowledge, MaxFraction: c.Removals.MaxFraction}}
	if p.ConsumerDomains == nil {
		p.ConsumerDomains = licensing.DefaultConsumerDomains
	}
	for _, t := range c.Templates {
		lt := licensing.Template{Name: t.Name, Groups: t.Groups, ReplaceExisting: !t.Preserves()}
		for _, l := range t.Licenses {
			lt.Licences = append(lt.Licences, licensing.LicenceRef{ID: l.ID, Name: l.Name, Subscription: l.Subscription})
		}
		p.Templates = append(p.Templates, lt)
	}
	return p
}
