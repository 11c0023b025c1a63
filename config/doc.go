// Package config loads licensync's one YAML file. Every key is checked: an
// unknown key, a wrong type or an invalid value is an error that names its
// field path (templates[1].licenses[0].subscription), and all errors are
// reported at once, before any pass starts.
//
// Any string value may be a reference: "${NAME}" is replaced by the
// environment variable NAME, and "file:/path" by the trimmed contents of the
// file (relative paths resolve against $CREDENTIALS_DIRECTORY when systemd
// sets it, else against the config file's folder). Secrets read this way are
// of type Secret, which never prints its value.
package config
