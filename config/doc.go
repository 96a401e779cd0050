// Package config is the idp binary's configuration: one typed Config,
// loaded in layers and checked once at start.
//
// Each value comes from, lowest first:
//
//  1. Default();
//  2. an optional YAML file (the path given to Load, else IDP_CONFIG),
//     whose keys are the env names in lower case with the idp_ prefix
//     optional (issuer or idp_issuer; xoxzo_api_sid);
//  3. environment variables (IDP_ISSUER, XOXZO_API_SID, ...);
//  4. command-line flags, applied by the command through Config.Set.
//
// Then Config.Validate reports every problem at once, each naming its
// setting, and Config.Warnings gives non-fatal advice.
//
// The struct tags of Config are the single table of settings: env names
// the setting (and its YAML key), help describes it, secret hides it from
// Redacted and LogValue and lets NAME_FILE supply it, and min, max and
// oneof state bounds that Validate enforces. Load, Set, Settings (the
// documentation) and Redacted all walk that table by reflection, so a new
// field needs nothing but its tags, plus a Validate rule when its bounds
// are more than a range.
//
// Values use one syntax everywhere: durations as Go writes them (90s, 5m,
// 720h), booleans as true/false, lists comma-separated (a YAML list is
// also accepted). Config is plain data: the command reads it once and
// hands the parts (Config.SMS, Config.PIN, ...) to the packages that need
// them; nothing reads configuration per request.
package config
