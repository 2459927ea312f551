package cli

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// A PostgreSQL database is named, in LOCKER_DATABASE_URL and to locker
// migrate, as pgx (and libpq) take it: a URL (postgres://user:pw@host/db) or
// a keyword=value connection string (host=db user=locker password=pw
// dbname=concourse). Both may carry a password, which no message shows.

// libpqKeywords are the keywords of a libpq connection string (PostgreSQL
// 17's, with pgx's "database"): a string in which one of them is given a
// value names a database, not a data file.
var libpqKeywords = []string{
	"host", "hostaddr", "port", "dbname", "database", "user", "password", "passfile",
	"require_auth", "channel_binding", "connect_timeout", "client_encoding", "options",
	"application_name", "fallback_application_name", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
	"gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression", "sslcert",
	"sslkey", "sslkeylogfile", "sslpassword", "sslcertmode", "sslrootcert", "sslcrl",
	"sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
	"ssl_max_protocol_version", "min_protocol_version", "max_protocol_version",
	"krbsrvname", "krbspn", "gsslib", "gssdelegation", "service", "servicefile",
	"target_session_attrs", "load_balance_hosts",
}

// isSecretKey reports whether a connection parameter's value is a secret.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword" || strings.HasSuffix(k, "_secret")
}

// isDatabase reports whether a store argument names a PostgreSQL database
// (a postgres:// or postgresql:// URL, or a connection string with at least
// one libpq keyword, such as host=db dbname=locker) rather than a data file.
func isDatabase(s string) bool {
	if isURLSpec(s) {
		return true
	}
	toks, _ := scanKeywordValue(s)
	for _, t := range toks {
		if slices.Contains(libpqKeywords, t.key) || strings.HasPrefix(t.key, "pool_") {
			return true
		}
	}
	return false
}

func isURLSpec(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// kvToken is one keyword=value of a connection string: s[start:valStart] is
// the keyword, its spaces and '='; s[valStart:end] the value as written.
type kvToken struct {
	key                  string
	start, valStart, end int
}

// scanKeywordValue reads a keyword=value connection string as pgx does
// (values quoted with ' or not, \ escaping the next character). It returns
// the keywords read and whether the whole string was: on a syntax error,
// the keywords before it. A keyword whose value is not ended (an unmatched
// quote) is returned too, its value running to the end of s.
func scanKeywordValue(s string) ([]kvToken, bool) {
	const space = " \t\n\r\v\f"
	var toks []kvToken
	i := 0
	for {
		for i < len(s) && strings.IndexByte(space, s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return toks, true
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return toks, false
		}
		key := strings.TrimRight(s[i:i+eq], space)
		if key == "" || strings.ContainsAny(key, space) {
			return toks, false
		}
		t := kvToken{key: key, start: i}
		j := i + eq + 1
		for j < len(s) && strings.IndexByte(space, s[j]) >= 0 {
			j++
		}
		t.valStart = j
		if j < len(s) && s[j] == '\'' {
			j++
			for j < len(s) && s[j] != '\'' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				t.end = len(s)
				return append(toks, t), false
			}
			j++ // the closing quote
		} else {
			for j < len(s) && strings.IndexByte(space, s[j]) < 0 {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(s))
		}
		t.end = j
		toks = append(toks, t)
		i = j
	}
}

// redactStore names a store for messages and logs: a data file's path as
// it is, a database without its passwords (in the URL's user information or
// query, or a connection string's password=), even one that does not parse.
func redactStore(spec string) string {
	if !isDatabase(spec) {
		return spec
	}
	return redactDatabase(spec)
}

// redactDatabase is a database's URL or connection string without its
// passwords.
func redactDatabase(spec string) string {
	if isURLSpec(spec) {
		return redactURL(spec)
	}
	toks, ok := scanKeywordValue(spec)
	var b strings.Builder
	last := 0
	for k, t := range toks {
		if !ok && k == len(toks)-1 && t.end == len(spec) {
			// Its value is not ended (an unmatched quote): what
			// follows may be anything, a password included.
			b.WriteString(spec[last:t.valStart])
			b.WriteString("xxxxx")
			last = len(spec)
			break
		}
		b.WriteString(spec[last:t.valStart])
		if isSecretKey(t.key) {
			b.WriteString("xxxxx")
		} else {
			b.WriteString(spec[t.valStart:t.end])
		}
		last = t.end
	}
	if !ok && last < len(spec) {
		// Not a keyword=value: left out, whatever it holds.
		if last == 0 {
			return "(a connection string that does not parse)"
		}
		b.WriteString(" ...")
	}
	return b.String()
}

// redactURL masks the password of a database URL's user information and
// the values of its password query parameters.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		u.RawQuery = redactQuery(u.RawQuery)
		return u.Redacted()
	}
	// It does not parse: mask from the first ':' of what may be the user
	// information to its last '@', and the passwords of what may be the
	// query, over-masking rather than showing a password.
	scheme, rest, _ := strings.Cut(s, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			rest = rest[:colon+1] + "xxxxx" + rest[at:]
		}
	}
	if path, query, found := strings.Cut(rest, "?"); found {
		rest = path + "?" + redactQuery(query)
	}
	return scheme + "://" + rest
}

func redactQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if isSecretKey(k) {
			parts[i] = p[:strings.IndexByte(p+"=", '=')] + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}

// storeSecrets returns the passwords written in a database's spec, as
// written and as read, to be masked wherever they are printed.
func storeSecrets(spec string) []string {
	var secrets []string
	if isURLSpec(spec) {
		if u, err := url.Parse(spec); err == nil {
			if pw, ok := u.User.Password(); ok {
				secrets = append(secrets, pw, url.UserPassword("", pw).String()[1:])
			}
			for k, vs := range u.Query() {
				if isSecretKey(k) {
					secrets = append(secrets, vs...)
				}
			}
		}
		// And the raw text, parsed or not.
		rest := spec[strings.Index(spec, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				secrets = append(secrets, rest[colon+1:at])
			}
		}
		if _, q, ok := strings.Cut(rest, "?"); ok {
			for _, p := range strings.Split(q, "&") {
				k, v, _ := strings.Cut(p, "=")
				if dk, err := url.QueryUnescape(k); err == nil && isSecretKey(dk) {
					secrets = append(secrets, v)
				}
			}
		}
	} else {
		toks, _ := scanKeywordValue(spec)
		for _, t := range toks {
			if isSecretKey(t.key) {
				v := spec[t.valStart:t.end]
				secrets = append(secrets, v, strings.Trim(v, "'"))
			}
		}
	}
	// The longest first, so that a part of one is not masked alone.
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return secrets
}

// databaseError is the message of err, got opening the database spec
// names, without its passwords. pgx repeats a connection string it cannot
// parse, masking its passwords only as well as it can: such an error is
// reduced to what is wrong, unless that quotes a part of the string (a
// word of an unquoted password, or a bad %-escape in one).
func databaseError(spec string, err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		msg = "cannot parse it as a PostgreSQL connection string"
		if isURLSpec(spec) {
			msg = "cannot parse it as a PostgreSQL URL"
		}
		if inner := errors.Unwrap(pe); inner != nil {
			var ue *url.Error
			if errors.As(inner, &ue) {
				inner = ue.Err // url.Parse's error repeats the URL
			}
			if !strings.ContainsAny(inner.Error(), "\"'`") {
				msg += ": " + inner.Error()
			}
		}
	}
	for _, s := range storeSecrets(spec) {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}
