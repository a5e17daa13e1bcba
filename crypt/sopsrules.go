package crypt

// .sops.yaml, found and read as sops 3.13.3 does it (config/config.go and
// cmd/sops/main.go): SOPS_CONFIG, else .sops.yaml in the current directory
// or up to 100 parents (a .sops.yml is skipped with a warning); the first
// creation rule whose path_regex matches the file's absolute path, with the
// config's own directory cut off the front, or that has no path_regex.

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

const sopsConfigMaxDepth = 100

// errNoSopsConfigFile is lookupSopsConfig's "not found".
var errNoSopsConfigFile = errors.New("config file not found")

// lookupSopsConfig walks up from start's directory as sops does; the path
// it returns is relative when start is.
func lookupSopsConfig(start string) (found, warning string, err error) {
	dir := path.Dir(start)
	alt := ""
	for range sopsConfigMaxDepth {
		p := path.Join(dir, ".sops.yaml")
		if _, err := os.Stat(p); err == nil {
			if alt != "" {
				warning = fmt.Sprintf("ignoring %q when searching for config file; the config file must be called %q; using %q instead", alt, ".sops.yaml", p)
			}
			return p, warning, nil
		}
		if alt == "" {
			if a := path.Join(dir, ".sops.yml"); fileExists(a) {
				alt = a
			}
		}
		dir = path.Join(dir, "..")
	}
	if alt != "" {
		warning = fmt.Sprintf("ignoring %q when searching for config file; the config file must be called %q", alt, ".sops.yaml")
	}
	return "", warning, errNoSopsConfigFile
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// sopsConfigFile has the parts of .sops.yaml that choose keys and rules,
// with sops's types, so that yaml refuses what sops refuses.
type sopsConfigFile struct {
	CreationRules []sopsCreationRule `yaml:"creation_rules"`
}

type sopsCreationRule struct {
	PathRegex               string          `yaml:"path_regex"`
	KMS                     any             `yaml:"kms"`
	AwsProfile              string          `yaml:"aws_profile"`
	Age                     any             `yaml:"age"`
	PGP                     any             `yaml:"pgp"`
	GCPKMS                  any             `yaml:"gcp_kms"`
	HCKms                   []string        `yaml:"hckms"`
	AzureKeyVault           any             `yaml:"azure_keyvault"`
	VaultURI                any             `yaml:"hc_vault_transit_uri"`
	KeyGroups               []sopsKeyGroupC `yaml:"key_groups"`
	ShamirThreshold         int             `yaml:"shamir_threshold"`
	UnencryptedSuffix       string          `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string          `yaml:"encrypted_suffix"`
	UnencryptedRegex        string          `yaml:"unencrypted_regex"`
	EncryptedRegex          string          `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string          `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string          `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool            `yaml:"mac_only_encrypted"`
}

// sopsKeyGroupC is a key group of a creation rule.
type sopsKeyGroupC struct {
	Merge []sopsKeyGroupC `yaml:"merge"`
	KMS   []struct {
		Arn  string `yaml:"arn"`
		Role string `yaml:"role"`
	} `yaml:"kms"`
	GCPKMS []struct {
		ResourceID string `yaml:"resource_id"`
	} `yaml:"gcp_kms"`
	HCKms []struct {
		KeyID string `yaml:"key_id"`
	} `yaml:"hckms"`
	AzureKV []struct {
		VaultURL string `yaml:"vaultUrl"`
		Key      string `yaml:"key"`
		Version  string `yaml:"version"`
	} `yaml:"azure_keyvault"`
	Vault []string `yaml:"hc_vault"`
	Age   []string `yaml:"age"`
	PGP   []string `yaml:"pgp"`
}

// configKey is a master key a rule names: Type is "age" (ID the
// recipient) or another sops key type.
type configKey struct {
	Type, ID string
}

// readCreationRule returns the rule of confPath that applies to absFile,
// nil when the config has no creation_rules (to sops, no config).
func readCreationRule(confPath, absFile string) (*sopsCreationRule, error) {
	data, err := os.ReadFile(confPath)
	if err != nil {
		return nil, fmt.Errorf("could not read config file: %w", err)
	}
	var conf sopsConfigFile
	if err := yaml.Unmarshal(data, &conf); err != nil {
		return nil, fmt.Errorf("error loading config: %v", yamlError(err))
	}
	if conf.CreationRules == nil {
		return nil, nil
	}
	dir, err := filepath.Abs(filepath.Dir(confPath))
	if err != nil {
		return nil, err
	}
	rel := strings.TrimPrefix(absFile, dir+string(filepath.Separator))
	for i := range conf.CreationRules {
		r := &conf.CreationRules[i]
		if r.PathRegex == "" {
			return r, nil
		}
		re, err := regexp.Compile(r.PathRegex)
		if err != nil {
			return nil, fmt.Errorf("can not compile regexp: %w", err)
		}
		if re.MatchString(rel) {
			return r, nil
		}
	}
	return nil, errNoMatchingRule
}

var errNoMatchingRule = errors.New("no matching creation rules found")

// rules are the rule's encryption settings; sops refuses more than one.
func (r *sopsCreationRule) rules() (sopsRules, error) {
	s := sopsRules{
		UnencryptedSuffix: r.UnencryptedSuffix, EncryptedSuffix: r.EncryptedSuffix,
		UnencryptedRegex: r.UnencryptedRegex, EncryptedRegex: r.EncryptedRegex,
		UnencryptedCommentRegex: r.UnencryptedCommentRegex, EncryptedCommentRegex: r.EncryptedCommentRegex,
		MACOnlyEncrypted: r.MACOnlyEncrypted,
	}
	if s.count() > 1 {
		return s, errors.New("cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule")
	}
	return s, nil
}

// keyGroups lists the rule's keys per group: key_groups when given, else
// one group of the rule's flat key lists.
func (r *sopsCreationRule) keyGroups() ([][]configKey, error) {
	if len(r.KeyGroups) > 0 {
		var out [][]configKey
		for _, g := range r.KeyGroups {
			keys, err := g.keys()
			if err != nil {
				return nil, err
			}
			out = append(out, dedupeKeys(keys))
		}
		return out, nil
	}
	var keys []configKey
	ids, err := keyField(r.Age, "age")
	if err != nil {
		return nil, err
	}
	recips, err := splitRecipients(strings.Join(ids, ","))
	if err != nil {
		return nil, err
	}
	for _, rc := range recips {
		keys = append(keys, configKey{"age", rc})
	}
	for _, f := range []struct {
		typ   string
		field any
	}{{"pgp", r.PGP}, {"kms", r.KMS}, {"gcp_kms", r.GCPKMS}, {"azure_kv", r.AzureKeyVault}, {"hc_vault", r.VaultURI}} {
		ids, err := keyField(f.field, f.typ)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			keys = append(keys, configKey{f.typ, id})
		}
	}
	for _, id := range r.HCKms {
		if id = strings.TrimSpace(id); id != "" {
			keys = append(keys, configKey{"hckms", id})
		}
	}
	return [][]configKey{keys}, nil
}

func (g sopsKeyGroupC) keys() ([]configKey, error) {
	var keys []configKey
	for _, m := range g.Merge {
		k, err := m.keys()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	for _, a := range g.Age {
		recips, err := splitRecipients(a)
		if err != nil {
			return nil, err
		}
		for _, r := range recips {
			keys = append(keys, configKey{"age", r})
		}
	}
	for _, p := range g.PGP {
		keys = append(keys, configKey{"pgp", p})
	}
	for _, k := range g.KMS {
		id := k.Arn
		if k.Role != "" {
			id += "+" + k.Role
		}
		keys = append(keys, configKey{"kms", id})
	}
	for _, k := range g.GCPKMS {
		keys = append(keys, configKey{"gcp_kms", k.ResourceID})
	}
	for _, k := range g.HCKms {
		keys = append(keys, configKey{"hckms", k.KeyID})
	}
	for _, k := range g.AzureKV {
		keys = append(keys, configKey{"azure_kv", k.VaultURL + "/keys/" + k.Key + "/" + k.Version})
	}
	for _, v := range g.Vault {
		keys = append(keys, configKey{"hc_vault", v})
	}
	return keys, nil
}

// splitRecipients splits a comma-separated list of age recipients as sops
// does: every element counts, so an empty one is an error.
func splitRecipients(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			return nil, errors.New("an age recipient in the rule is empty")
		}
		out = append(out, r)
	}
	return out, nil
}

// keyField reads a rule's key list: a comma-separated string or a list of
// strings.
func keyField(v any, name string) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				out = append(out, k)
			}
		}
		return out, nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("invalid %s key configuration: expected string in list, got %s", name, typeName(x))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("invalid %s key configuration: expected a string or a list of strings", name)
}

func dedupeKeys(keys []configKey) []configKey {
	var out []configKey
	seen := map[configKey]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
