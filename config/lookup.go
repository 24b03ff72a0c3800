package config

import (
	"fmt"
	"log/slog"
	"path"
)

// AgentFor returns the policy for agent name: the agent whose pattern is
// exactly name, else the first glob pattern (path.Match) that matches it in
// file order, else nil.
func (c *Config) AgentFor(name string) *Agent {
	if c == nil || name == "" {
		return nil
	}
	for _, a := range c.Agents {
		if a.Pattern == name {
			return a
		}
	}
	for _, a := range c.Agents {
		if ok, err := path.Match(a.Pattern, name); ok && err == nil {
			return a
		}
	}
	return nil
}

// Resource returns the resource called name, or nil.
func (c *Config) Resource(name string) *Resource {
	if c == nil {
		return nil
	}
	return c.Resources[name]
}

// LogValue logs what identifies a resource, never its DSN.
func (r *Resource) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	tables := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		tables[i] = t.String()
	}
	return slog.GroupValue(
		slog.String("name", r.Name),
		slog.String("enforcement", string(r.Enforcement)),
		slog.Any("tables", tables),
		slog.Int("max_rows", r.Limits.MaxRows),
		slog.Int64("max_result_bytes", r.Limits.MaxResultBytes),
		slog.Duration("statement_timeout", r.Limits.StatementTimeout),
	)
}

const redacted = "[redacted]"

// LogValue redacts.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format redacts under every verb, including %d and %x, which would otherwise
// print the unexported field.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// MarshalText redacts, for encoders that prefer text (YAML, TOML, form values).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }
