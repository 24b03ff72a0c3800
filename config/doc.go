/*
Package config reads keyhole.yaml into a plain [Config]: parsed from a
reader, ${NAME} variables expanded, defaults applied, then validated, with
every problem reported by file and line.

# What it guarantees

A *Config returned by [Load] or [Parse] is complete and consistent: every
resource has a DSN pgx can parse and at least one table; every agent rule
names an existing resource, privileges from {read, write}, and tables (and
columns) within that resource's; a rule that names a column-scoped table
without columns carries the resource's columns, so a rule can never widen a
resource. Durations are positive, max_duration is at most 24h, paths are
absolute (relative ones resolve against the config file's directory).

Unknown keys, duplicate keys, YAML aliases and merge keys are errors: a
misspelt key in a security policy must not silently mean "default".
[Check] reports every problem at once, errors and warnings, sorted by line;
[Load] fails with a *[Problems] when any of them is an error and keeps
warnings in Config.Warnings.

# The threat it addresses

The config holds the database credentials keyhole acts with and the policy
that decides what agents may touch. Two things must not happen:

  - A secret leaks. A DSN is kept as a [Secret], whose String, GoString,
    Format, MarshalJSON, MarshalText and LogValue all redact; a resource's
    LogValue omits it. No problem message quotes a DSN or any part of it,
    whether written in the file or taken from the environment. A password
    written inline is a warning: secrets belong in the environment.
  - The environment rewrites the policy. ${NAME} is expanded after YAML
    parsing, inside one scalar value, in one pass: a variable's value can
    never add keys, list items or further ${...} references. An undefined
    variable is an error naming it. $$ stands for a literal dollar sign, and
    ${data_dir} (the resolved data directory) is available in paths such as
    audit.file.

# Example

	cfg, err := config.Load("keyhole.yaml")
	if err != nil {
		return err // a *config.Problems prints one "file:line: message" per line
	}
	for _, w := range cfg.Warnings {
		logger.Warn("config", "problem", w.String())
	}
	agent := cfg.AgentFor("analytics-worker") // exact name first, then globs in file order

# Errors

[Load] and [Parse] return a *[Problems] (errors.As also fills a [Problems]
value) when the file is invalid, and an error prefixed "config:" when it
cannot be read at all. [Check] never fails as a function: it returns the
problems, with a nil *Config when any is an error. [HasErrors] tells errors
from warnings.
*/
package config
