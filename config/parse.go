package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what Parse reads; a real config is a few kilobytes.
const maxFileSize = 4 << 20

// Defaults applied where keyhole.yaml says nothing.
const (
	DefaultTrustDomain        = "keyhole.local"
	DefaultDataDir            = "./keyhole-data"
	DefaultEnforcement        = EphemeralRole
	DefaultMaxRows            = 1000
	DefaultMaxResultBytes     = 1 << 20
	DefaultStatementTimeout   = 5 * time.Second
	DefaultRolePrefix         = "kh_"
	DefaultMaxDuration        = 15 * time.Minute
	MaxMaxDuration            = 24 * time.Hour
	DefaultApproval           = ApprovalAuto
	DefaultAuditFileName      = "audit.jsonl"
	DefaultAuditResults       = ResultsDigest
	DefaultAuditMaxResult     = 64 << 10
	DefaultAuditFsync         = FsyncBatch
	DefaultAuditMaxMeta       = 4 << 10
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultRotateBytes        = 100 << 20
)

// Load reads, expands, defaults and validates the file at path, taking
// ${NAME} values from the process environment. When the file is invalid the
// error is a *Problems listing every problem; warnings alone do not fail Load
// and are kept in Config.Warnings.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(f, path, os.LookupEnv)
}

// Parse is Load for a reader: path names the file in problems and anchors
// relative paths (the working directory when path is ""); env looks up
// ${NAME} variables (os.LookupEnv when nil).
func Parse(r io.Reader, path string, env func(string) (string, bool)) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg, problems := parse(data, path, env)
	if HasErrors(problems) {
		ps := Problems(problems)
		return nil, &ps
	}
	return cfg, nil
}

// Check reads and validates the file at path and returns every problem,
// warnings included, sorted by line. The config is nil when any problem is
// an error.
func Check(path string, env func(string) (string, bool)) (*Config, []Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, []Problem{{File: path, Msg: "cannot read: " + err.Error()}}
	}
	cfg, problems := parse(data, path, env)
	if HasErrors(problems) {
		return nil, problems
	}
	return cfg, problems
}

// yamlLine matches the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(data []byte, path string, env func(string) (string, bool)) (*Config, []Problem) {
	if env == nil {
		env = os.LookupEnv
	}
	d := &decoder{file: path, env: env}
	cfg := d.parse(data, path)
	sortProblems(d.problems)
	if HasErrors(d.problems) {
		return nil, d.problems
	}
	cfg.Warnings = d.problems
	return cfg, d.problems
}

// syntax reports a YAML syntax error at the line yaml.v3 names. That line is
// sometimes where the enclosing block starts rather than the offending one; a
// tab in indentation, the most common mistake, is located exactly.
func (d *decoder) syntax(data []byte, err error) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		d.errorf(0, "", "YAML syntax: %s", err)
		return
	}
	line, _ := strconv.Atoi(m[1])
	if strings.Contains(m[2], "tab character") {
		for i, l := range strings.Split(string(data), "\n") {
			indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			if i+1 >= line && strings.Contains(indent, "\t") {
				line = i + 1
				break
			}
		}
	}
	d.errorf(line, "", "YAML syntax: %s", m[2])
}

func (d *decoder) parse(data []byte, path string) *Config {
	if len(data) > maxFileSize {
		d.errorf(0, "", "file larger than %d bytes", maxFileSize)
		return nil
	}
	base := "."
	if path != "" {
		base = filepath.Dir(path)
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		d.errorf(0, "", "cannot resolve the config's directory: %v", err)
		return nil
	}
	d.baseDir = abs

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(1, "", "empty file: want at least resources and agents")
		} else {
			d.syntax(data, err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(extra.Line, "", "only one YAML document is allowed")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(data, err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errorf(max(doc.Line, 1), "", "empty file: want at least resources and agents")
		return nil
	}
	return d.config(doc.Content[0], path)
}

var trustDomainRE = regexp.MustCompile(`^[a-z0-9._-]{1,255}$`)

func (d *decoder) config(root *yaml.Node, path string) *Config {
	cfg := &Config{
		Path:        path,
		TrustDomain: DefaultTrustDomain,
		Resources:   make(map[string]*Resource),
	}
	if d.alias("", root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "want a mapping of trust_domain, data_dir, resources, agents, audit and server, not %s", describe(root))
		return nil
	}
	ps := d.pairs("", root, "a mapping")

	// data_dir first: ${data_dir} in other paths refers to it.
	d.dataDir = filepath.Join(d.baseDir, DefaultDataDir)
	for _, p := range ps {
		if p.key != "data_dir" || isNull(p.v) {
			continue
		}
		if v, ok := d.scalar("data_dir", p.v); ok {
			if v == "" {
				d.errorf(p.v.Line, "data_dir", "must not be empty")
			} else {
				d.dataDir = d.resolve(v)
			}
		}
	}
	cfg.DataDir = d.dataDir
	cfg.Audit = d.defaultAudit()

	var res *resourcesInfo
	var agents []*agentInfo
	present := d.dispatch("", ps, handlers{
		"trust_domain": func(where string, v *yaml.Node) {
			if s, ok := d.scalar(where, v); ok {
				if !trustDomainRE.MatchString(s) {
					d.errorf(v.Line, where, "%q is not a trust domain (lower-case letters, digits, '.', '-', '_')", s)
				} else {
					cfg.TrustDomain = s
				}
			}
		},
		"data_dir":  func(string, *yaml.Node) {}, // read above
		"resources": func(where string, v *yaml.Node) { res = d.resources(where, v) },
		"agents":    func(where string, v *yaml.Node) { agents = d.agents(where, v) },
		"audit":     func(where string, v *yaml.Node) { d.audit(where, v, &cfg.Audit) },
		"server":    func(where string, v *yaml.Node) { d.server(where, v, &cfg.Server) },
	})
	if !present["resources"] {
		d.errorf(root.Line, "", "resources: at least one resource is required")
	}
	if !present["agents"] {
		d.warnf(root.Line, "", "agents: none defined, so every access request will be denied")
	}
	if res == nil {
		res = &resourcesInfo{}
	}
	for _, ri := range res.list {
		cfg.Resources[ri.res.Name] = ri.res
	}
	for _, ai := range agents {
		cfg.Agents = append(cfg.Agents, ai.agent)
	}
	d.crossCheck(res, agents)
	return cfg
}

// resolve makes a path absolute against the config file's directory.
func (d *decoder) resolve(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.baseDir, p)
	}
	return filepath.Clean(p)
}

func (d *decoder) defaultAudit() Audit {
	return Audit{
		File:               filepath.Join(d.dataDir, DefaultAuditFileName),
		Results:            DefaultAuditResults,
		MaxResultBytes:     DefaultAuditMaxResult,
		Fsync:              DefaultAuditFsync,
		MaxMetaBytes:       DefaultAuditMaxMeta,
		CheckpointEvery:    DefaultCheckpointEvery,
		CheckpointInterval: DefaultCheckpointInterval,
		RotateBytes:        DefaultRotateBytes,
	}
}

func (d *decoder) audit(where string, n *yaml.Node, a *Audit) {
	d.fields(where, n, "a mapping", handlers{
		"file": func(where string, v *yaml.Node) {
			if s, ok := d.pathValue(where, v); ok {
				if s == "" {
					d.errorf(v.Line, where, "must not be empty")
					return
				}
				a.File = d.resolve(s)
			}
		},
		"results": func(where string, v *yaml.Node) {
			if s, ok := d.enum(where, v, string(ResultsNone), string(ResultsDigest), string(ResultsFull)); ok {
				a.Results = ResultsMode(s)
			}
		},
		"max_result_bytes": func(where string, v *yaml.Node) {
			if x, ok := d.size(where, v, 1); ok {
				a.MaxResultBytes = x
			}
		},
		"fsync": func(where string, v *yaml.Node) {
			if s, ok := d.enum(where, v, string(FsyncAlways), string(FsyncBatch)); ok {
				a.Fsync = FsyncMode(s)
			}
		},
		"redact_params": func(where string, v *yaml.Node) {
			if b, ok := d.boolean(where, v); ok {
				a.RedactParams = b
			}
		},
		"max_meta_bytes": func(where string, v *yaml.Node) {
			if x, ok := d.size(where, v, 1); ok {
				if x > 1<<30 {
					d.errorf(v.Line, where, "must be at most 1GiB")
					return
				}
				a.MaxMetaBytes = int(x)
			}
		},
		"checkpoint_every": func(where string, v *yaml.Node) {
			if x, ok := d.integer(where, v, 1); ok {
				a.CheckpointEvery = x
			}
		},
		"checkpoint_interval": func(where string, v *yaml.Node) {
			if x, ok := d.duration(where, v, false, 0); ok {
				a.CheckpointInterval = x
			}
		},
		"rotate_bytes": func(where string, v *yaml.Node) {
			if x, ok := d.size(where, v, 0); ok {
				a.RotateBytes = x
			}
		},
		"rotate_age": func(where string, v *yaml.Node) {
			if x, ok := d.duration(where, v, true, 0); ok {
				a.RotateAge = x
			}
		},
	})
}

func (d *decoder) server(where string, n *yaml.Node, s *Server) {
	d.fields(where, n, "a mapping", handlers{
		"http": func(where string, v *yaml.Node) {
			d.fields(where, v, "a mapping of listen and allowed_origins", handlers{
				"listen": func(where string, v *yaml.Node) {
					addr, ok := d.scalar(where, v)
					if !ok {
						return
					}
					if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
						d.errorf(v.Line, where, "want host:port (for example 127.0.0.1:8765), not %q", addr)
						return
					}
					s.HTTP.Listen = addr
				},
				"allowed_origins": func(where string, v *yaml.Node) {
					items, ok := d.items(where, v, "a list of origins like https://app.example.org")
					if !ok {
						return
					}
					s.HTTP.AllowedOrigins = []string{}
					for i, it := range items {
						w := index(where, i)
						o, ok := d.scalar(w, it)
						if !ok {
							continue
						}
						if !validOrigin(o) {
							d.errorf(it.Line, w, "%q is not an origin (want scheme://host[:port], no path)", o)
							continue
						}
						s.HTTP.AllowedOrigins = append(s.HTTP.AllowedOrigins, o)
					}
				},
			})
		},
	})
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
