package resource

// Pools: source.pool, with the params of Concourse's pool-resource (acquire,
// claim, release, add, add_claimed, remove, update) and the files its get
// writes (name and metadata). See docs/concourse.md#pools.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
	"github.com/cloudfoundry-community/locker/lock"
)

// The operations of a put to a pool, pool-resource's params.
const (
	opAcquire    = "acquire"
	opClaim      = "claim"
	opRelease    = "release"
	opAdd        = "add"
	opAddClaimed = "add_claimed"
	opRemove     = "remove"
	opUpdate     = "update"
)

var poolOps = []string{opAcquire, opClaim, opRelease, opAdd, opAddClaimed, opRemove, opUpdate}

const poolOpsText = "acquire: true, claim: <member>, release: <dir>, add: <dir>, add_claimed: <dir>, remove: <dir> or update: <dir>"

// PoolParams are the params of a put to a pool, with what the put's
// directory holds for them.
type PoolParams struct {
	// Op is one of acquire, claim, release, add, add_claimed, remove and
	// update.
	Op string
	// Dir is the directory that release, add, add_claimed, remove and
	// update name, as given, and Path where it is.
	Dir, Path string
	// Name is the member: claim's value, or the name file in Dir.
	Name string
	// Metadata is the metadata file in Dir, as metadata (add, add_claimed,
	// update).
	Metadata json.RawMessage
	// Key is the key to take the member with (acquire, claim,
	// add_claimed) or to release it with (release, remove); KeyFrom says
	// where it came from, for messages.
	Key, KeyFrom string
	// Holder is params.locked_by (or, for release, Dir's holder file: the
	// holder of the put whose get wrote Dir; without one, the one holder
	// in its holders file); "" means the key.
	Holder string
	// Fence is the fence file in Dir ("" when it has none): the
	// acquisition that release and remove act for.
	Fence string
	// DirKey, DirFence and DirHolder are the key, fence and holder files
	// in Dir for add and update ("" when it has none): when Dir is the
	// get of the build's acquisition, whose hold it is.
	DirKey, DirFence, DirHolder string
	// DirHolders are the holders that Dir's get recorded (its holders
	// file, or else the locked_by of its lock file; nil when it has
	// neither, or they name none), and DirHoldersFrom the file: for a
	// directory without a holder file, what shows which hold is its own
	// (ownHolder).
	DirHolders     []string
	DirHoldersFrom string
	// ownHolder: Holder was made for this step (acquire without
	// locked_by), so no other call uses the key and holder.
	ownHolder bool
}

// holder is the holder as the server has it.
func (p *PoolParams) holder() string {
	if p.Holder != "" {
		return p.Holder
	}
	return p.Key
}

// asHolder names the holder for messages, when it is not the key.
func asHolder(p *PoolParams) string {
	if p.Holder == "" || p.Holder == p.Key {
		return ""
	}
	return fmt.Sprintf(" as %q", p.Holder)
}

// takes reports whether the operation takes a hold.
func (p *PoolParams) takes() bool {
	return p.Op == opAcquire || p.Op == opClaim || p.Op == opAddClaimed
}

// getenv reads the environment: Concourse passes the build's metadata to a
// put in BUILD_* variables.
var getenv = os.Getenv

// stepHolder is the holder of a step's own: the key and a random part,
// the key cut short (at a character's start) when both would pass the
// limit of a holder's length.
func stepHolder(key, random string) string {
	suffix := " #" + random
	for len(key)+len(suffix) > lock.MaxNameLen || !utf8.ValidString(key) {
		key = key[:len(key)-1]
	}
	return key + suffix
}

// keyFromBuild is PoolParams.KeyFrom for the build's own key.
const keyFromBuild = "the build's key"

// buildKey is the key for a put without params.key: the build's, from the
// variables Concourse sets (team/pipeline/job/build number, and the build's
// id, which is unique across the Concourse installation). "" outside
// Concourse.
func buildKey(getenv func(string) string) string {
	id := getenv("BUILD_ID")
	team, pipeline, job, name := getenv("BUILD_TEAM_NAME"), getenv("BUILD_PIPELINE_NAME"), getenv("BUILD_JOB_NAME"), getenv("BUILD_NAME")
	switch {
	case id == "":
		return ""
	case pipeline != "" && job != "" && name != "":
		if vars := getenv("BUILD_PIPELINE_INSTANCE_VARS"); vars != "" && vars != "{}" {
			pipeline += vars
		}
		key := fmt.Sprintf("%s/%s/%s/%s (build %s)", team, pipeline, job, name, id)
		if lock.ValidateName("key", key) == nil {
			return key
		}
		// Too long for a key (long instance vars, say): the build id alone
		// is unique.
		return fmt.Sprintf("%s/build %s", team, id)
	case team != "":
		return fmt.Sprintf("%s/one-off build %s", team, id)
	}
	return "build " + id
}

// parsePoolParams checks a put's params for a pool source and reads the
// files of the directory it names, in outDir (the put's directory of build
// artifacts). Nothing here talks to the server.
func parsePoolParams(raw json.RawMessage, outDir string, getenv func(string) string) (p *PoolParams, warnings []string, err error) {
	var problems []string
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil, &ConfigError{Problems: []string{"params are missing: a put to a pool needs one of params." + poolOpsText}}
	}
	f := newFields("params", raw, &problems)
	p = &PoolParams{}
	var ops []string
	if f.boolean(opAcquire) {
		ops = append(ops, opAcquire)
	}
	values := map[string]string{}
	empty := false
	for _, op := range poolOps[1:] {
		read := f.str // a step's directory
		if op == opClaim {
			read = f.text // a member's name: a number is its text
		}
		v := read(op)
		if v != "" {
			ops = append(ops, op)
			values[op] = v
		} else if raw := f.raw(op); raw != nil && jsonType(raw) == "a string" {
			problems = append(problems, fmt.Sprintf("params.%s is empty: %s", op, poolOpHelp(op)))
			empty = true
		}
	}
	if f.raw("lock_op") != nil {
		problems = append(problems, "params.lock_op is for a single lock (source.lock_name or bosh_lock); with source.pool, a put takes one of params."+poolOpsText)
	}
	key := f.text("key")
	p.Holder = holderParam(f, &warnings)
	switch {
	case len(ops) > 1:
		problems = append(problems, fmt.Sprintf("params has several operations (%s): a put does one; use a put step for each", strings.Join(ops, ", ")))
	case len(ops) == 0 && !empty:
		problems = append(problems, "params has no operation: set one of params."+poolOpsText)
	}
	if _, given := f.m["key"]; given && key == "" {
		problems = append(problems, "params.key is empty: set it, or leave it out to use the build's own key")
	} else if key != "" {
		if err := lock.ValidateName("params.key", key); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(ops) == 1 {
		p.Op = ops[0]
		switch p.Op {
		case opClaim:
			p.Name = values[opClaim]
			if err := lock.ValidateName("params.claim", p.Name); err != nil {
				problems = append(problems, err.Error())
			}
		case opRelease, opAdd, opAddClaimed, opRemove, opUpdate:
			p.Dir = values[p.Op]
			problems = append(problems, p.readDir(outDir)...)
		}
		switch {
		case p.takes():
			p.Key, p.KeyFrom = key, "params.key"
			if key == "" {
				p.Key, p.KeyFrom = buildKey(getenv), keyFromBuild
				if p.Key == "" {
					problems = append(problems, fmt.Sprintf("params.key is missing, and there is no Concourse build to make one from (no BUILD_ID): set params.key to the key to %s the member with", strings.TrimSuffix(p.Op, "_claimed")))
				}
			}
			if p.Op == opAcquire && p.Holder == "" && p.Key != "" {
				// A holder of the step's own: steps of one build that
				// acquire at once share its key, and a member granted to
				// one of them as its wait ended must be told from another
				// step's, to be given back (the get writes the holder in
				// the holders file, which a release reads).
				b := make([]byte, 3)
				rand.Read(b)
				p.Holder, p.ownHolder = stepHolder(p.Key, hex.EncodeToString(b)), true
			}
		case p.Op == opRelease || p.Op == opRemove:
			if key != "" {
				p.Key, p.KeyFrom = key, "params.key"
			} else if p.KeyFrom == "" && p.Op == opRelease && p.Path != "" && p.Name != "" {
				problems = append(problems, fmt.Sprintf("params.release is %q, but %s has no key file, so the key the member was taken with is unknown: release the directory of a get or put of this resource (it writes the key), or set params.key", p.Dir, p.Path))
			}
		case p.Op == opAdd || p.Op == opUpdate:
			// Not to change anything: to know a hold of this build's on
			// the member, which the put's directory then shows. Without
			// params.key, the key of the hold the directory names (its
			// key file: update: aws-environments, the get of an acquire
			// with params.key), else the build's.
			p.Key, p.KeyFrom = key, "params.key"
			switch {
			case key != "":
			case p.DirKey != "":
				p.Key, p.KeyFrom = p.DirKey, filepath.Join(p.Dir, "key")
			default:
				p.Key, p.KeyFrom = buildKey(getenv), keyFromBuild
			}
		case key != "":
			warnings = append(warnings, fmt.Sprintf("params.key is not used by %s: ignoring it", p.Op))
		}
	}
	for _, name := range f.unknown() {
		warnings = append(warnings, fmt.Sprintf("ignoring unknown setting params.%s (known with source.pool: %s, key, locked_by)", name, strings.Join(poolOps, ", ")))
	}
	if len(problems) > 0 {
		return nil, warnings, &ConfigError{Problems: problems}
	}
	return p, warnings, nil
}

func poolOpHelp(op string) string {
	switch op {
	case opClaim:
		return "set it to the name of the member to take"
	case opRelease, opRemove:
		return "set it to the name of a get or put step of this resource (the directory with the member's name file)"
	}
	return "set it to a directory with the files name (the member's name) and metadata"
}

// readDir reads, from the directory p.Dir in outDir, the member's name and
// what the op needs: metadata for add, add_claimed and update; for release
// and remove, the key, fence, holder and holders files that a get of this
// resource wrote. It returns the problems it met.
func (p *PoolParams) readDir(outDir string) []string {
	what := fmt.Sprintf("params.%s is %q", p.Op, p.Dir)
	p.Path = p.Dir
	if !filepath.IsAbs(p.Dir) {
		p.Path = filepath.Join(outDir, p.Dir)
	}
	if st, err := os.Stat(p.Path); err != nil || !st.IsDir() {
		msg := fmt.Sprintf("%s, but there is no such directory in the build", what)
		if names := dirNames(outDir); len(names) > 0 {
			msg += " (there are: " + strings.Join(names, ", ") + ")"
		}
		return []string{msg + ": " + poolOpHelp(p.Op)}
	}
	var problems []string
	read := func(file string, required bool) (string, bool) {
		b, err := os.ReadFile(filepath.Join(p.Path, file))
		switch {
		case err == nil:
			return string(b), true
		case required && errors.Is(err, os.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s, but %s has no %s file: %s", what, p.Path, file, poolOpHelp(p.Op)))
		case required || !errors.Is(err, os.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s: cannot read its %s file: %v", what, file, err))
		}
		return "", false
	}
	if name, ok := read("name", true); ok {
		// pool-resource's get writes the name with a newline, as does
		// ours; a name never has control characters.
		p.Name = strings.TrimRight(name, "\r\n")
		if p.Name == "" {
			problems = append(problems, fmt.Sprintf("%s, but its name file is empty: write the member's name in it", what))
		} else if err := lock.ValidateName(fmt.Sprintf("the name in %s", filepath.Join(p.Path, "name")), p.Name); err != nil {
			problems = append(problems, err.Error())
		}
	}
	switch p.Op {
	case opAdd, opAddClaimed, opUpdate:
		if text, ok := read("metadata", true); ok {
			p.Metadata = metadataFromText([]byte(text))
			if err := lock.ValidateMetadata(p.Metadata); err != nil {
				problems = append(problems, fmt.Sprintf("%s: the metadata file cannot be used: %v", what, err))
			}
		}
		if p.Op != opAddClaimed {
			// Which hold of the build's the put's version names, when
			// the directory is the get of the acquisition (heldHolder).
			// Only compared with the member: nothing to refuse.
			for file, to := range map[string]*string{"key": &p.DirKey, "fence": &p.DirFence, "holder": &p.DirHolder} {
				if b, err := os.ReadFile(filepath.Join(p.Path, file)); err == nil {
					*to = strings.TrimRight(string(b), "\r\n")
				}
			}
			p.DirFence = strings.TrimSpace(p.DirFence)
			p.readDirHolders()
		}
	case opRelease, opRemove:
		if key, ok := read("key", false); ok {
			p.Key, p.KeyFrom = strings.TrimRight(key, "\r\n"), filepath.Join(p.Dir, "key")
		}
		if fence, ok := read("fence", false); ok {
			p.Fence = strings.TrimSpace(fence)
		}
		// The holder file names the hold of the put whose get wrote the
		// directory, whoever else holds the member under its key; a
		// directory without one (written by an older resource, or of a
		// put that took nothing) names it only when it has one holder.
		if holder, ok := read("holder", false); ok && p.Holder == "" {
			if h := strings.TrimRight(holder, "\r\n"); h != "" {
				if err := lock.ValidateName(fmt.Sprintf("the holder in %s", filepath.Join(p.Path, "holder")), h); err != nil {
					problems = append(problems, err.Error())
				} else {
					p.Holder = h
				}
			}
		}
		if p.readDirHolders(); p.Holder == "" && len(p.DirHolders) == 1 {
			p.Holder = p.DirHolders[0]
		}
	}
	return problems
}

// readDirHolders reads the holders that the directory's get recorded: its
// holders file (one a line), or, without one, its lock file's locked_by
// (the lock as the get read it). Unreadable or naming none: nil.
func (p *PoolParams) readDirHolders() {
	if b, err := os.ReadFile(filepath.Join(p.Path, "holders")); err == nil {
		for h := range strings.SplitSeq(strings.TrimRight(string(b), "\r\n"), "\n") {
			if h = strings.TrimRight(h, "\r"); h != "" {
				p.DirHolders = append(p.DirHolders, h)
			}
		}
		p.DirHoldersFrom = "holders"
		return
	}
	b, err := os.ReadFile(filepath.Join(p.Path, "lock"))
	if err != nil {
		return
	}
	var l struct {
		LockedBy map[string]int `json:"locked_by"`
	}
	if json.Unmarshal(b, &l) == nil {
		p.DirHolders, p.DirHoldersFrom = holderNames(l.LockedBy), "lock"
	}
}

// dirNames lists the directories in dir, for messages.
func dirNames(dir string) []string {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// metadataFromText turns the content of a metadata file into metadata: the
// JSON it holds, or, when it is not JSON, a JSON string of its text (as
// `locker pool add --metadata-file` and `locker import-pool-repo` do).
func metadataFromText(b []byte) json.RawMessage {
	if t := bytes.TrimSpace(b); len(t) > 0 && json.Valid(t) {
		return json.RawMessage(bytes.Clone(t))
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(b), "\uFFFD"))
	return s
}

// metadataText is what a get writes to the metadata file, as pool-resource
// writes a lock file's content: a JSON string's text as it is, other JSON
// as JSON; nothing when there is none.
func metadataText(m json.RawMessage) []byte {
	t := bytes.TrimSpace(m)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	if t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) == nil {
			return []byte(s)
		}
	}
	return t
}

// poolOut does a put to the pool.
func (r *runner) poolOut(ctx context.Context, p *PoolParams) (*response, error) {
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	var (
		l      *client.Lock
		waited time.Duration
		err    error
	)
	switch p.Op {
	case opAcquire:
		l, waited, err = r.poolAcquire(ctx, p)
	case opClaim:
		l, waited, err = r.poolClaim(ctx, p)
	case opAddClaimed:
		l, waited, err = r.poolAddClaimed(ctx, p)
	case opRelease:
		l, err = r.poolRelease(ctx, p)
	case opAdd, opUpdate:
		l, err = r.poolAdd(ctx, p)
	case opRemove:
		l, err = r.poolRemove(ctx, p)
	default:
		err = fmt.Errorf("unknown operation %q", p.Op)
	}
	if err != nil {
		return nil, err
	}
	v := Version{"name": l.Name, "fence": fmt.Sprint(l.Fence)}
	if p.takes() {
		// The hold as granted (state, key, holders), as a single lock's
		// version has it: the get after the put writes the member from
		// it when it cannot read the server, so that a release from its
		// directory gives the member back (poolIn).
		maps.Copy(v, versionOf(l))
		// And whose hold it is: others may hold the member under the
		// same key (a key shared on purpose), and the get writes it to
		// the holder file, so that a release from its directory gives
		// back this hold, not another's.
		v["holder"] = p.holder()
	} else {
		v["op"] = p.Op
	}
	if p.Op == opAdd || p.Op == opUpdate {
		v["metadata"] = shortDigest(l.Metadata)
		fromDir := p.KeyFrom == filepath.Join(p.Dir, "key")
		switch {
		case p.Key == "" || l.Free() || l.Key != p.Key:
		case fromDir && p.DirFence != "" && !l.Legacy && p.DirFence != fmt.Sprint(l.Fence):
			// Under the directory's key, but taken again since its get
			// (another fence): not the hold the directory names.
			r.log.printf("note: %q is held under key %q (%s) with fence %d, not the hold %s names (fence %s): this version holds nothing", l.Name, l.Key, p.KeyFrom, l.Fence, p.Dir, p.DirFence)
		default:
			// The member is this build's (an update of the member it
			// took): the get of this version shows that hold, so that a
			// release from its directory gives it back.
			v["held"] = fmt.Sprint(l.Fence)
			// And whose hold it is, when that is known: others may hold
			// the member under the same key, and a release from the
			// directory must give back the build's hold, not another's.
			if h := r.heldHolder(l, p); h != "" {
				v["holder"] = h
			}
		}
	}
	var m metadata
	m.add("pool", r.src.Pool)
	m.add("name", l.Name)
	m.add("operation", p.Op)
	if p.Key != "" && p.Op != opAdd && p.Op != opUpdate {
		m.add("key", p.Key)
		m.add("holder", p.holder())
	}
	if p.takes() {
		m.add("waited", round(waited).String())
	}
	m.addLock(l)
	return &response{Version: v, Metadata: m}, nil
}

// heldHolder names, for an add or update of member l that the build holds
// under p.Key, which of its holders is the build's: params.locked_by; or
// the holder file of the directory read, when that is the get of the
// acquisition the member is still held by (the same key and fence); or
// the member's one holder. "" when none of these names a holder that
// holds it (several holders, none named): a release from the put's
// directory then keeps the older rule (its holders file, or the key).
// Besides the holder file, the decision is ownHolder's, as a remove makes
// it; only a params.locked_by that holds nothing is refused here.
func (r *runner) heldHolder(l *client.Lock, p *PoolParams) string {
	if p.Holder == "" && p.DirHolder != "" && p.DirKey == l.Key && p.DirFence == fmt.Sprint(l.Fence) && l.LockedBy[p.DirHolder] > 0 {
		return p.DirHolder
	}
	own, known := ownHolder(l, p)
	switch {
	case !known:
		r.log.printf("note: %q is %s, and %s does not say which of these holds is this build's (no holder file from the get of its acquisition): a release from the put's directory needs params.locked_by to give back the build's hold", l.Name, describe(l), p.Dir)
		return ""
	case p.Holder != "" && l.LockedBy[own] <= 0:
		r.log.printf("note: params.locked_by %q holds nothing on %q (it is %s): the version names no holder, so a release from the put's directory uses its holders file", p.Holder, l.Name, describe(l))
		return ""
	}
	return own
}

// shortDigest is a short hash of data, for versions.
func shortDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// getPool reads the pool; a pool without members is empty, not an error.
func (r *runner) getPool(ctx context.Context) (*client.Pool, error) {
	p, err := r.c.Pool(ctx, r.src.Pool)
	if err != nil && errors.Is(err, client.ErrNotFound) && !errors.Is(err, client.ErrPoolsUnsupported) {
		return &client.Pool{Name: r.src.Pool}, nil
	}
	return p, err
}

// readPool reads the pool, trying again while the server cannot be reached
// (attempts > 0 bounds the tries).
func (r *runner) readPool(ctx context.Context, attempts int) (*client.Pool, error) {
	var p *client.Pool
	err := r.retry(ctx, fmt.Sprintf("reading pool %q", r.src.Pool), attempts, func() error {
		var err error
		p, err = r.getPool(ctx)
		return err
	})
	return p, err
}

// readLock reads a lock, trying again while the server cannot be reached.
func (r *runner) readLock(ctx context.Context, name string, attempts int) (*client.Lock, error) {
	var l *client.Lock
	err := r.retry(ctx, fmt.Sprintf("reading lock %q", name), attempts, func() error {
		var err error
		l, err = r.getLock(ctx, name)
		return err
	})
	return l, err
}

// describePool says how many members are free and who holds the others,
// for messages.
func describePool(p *client.Pool) string {
	if len(p.Members) == 0 {
		return "no members"
	}
	var held []string
	for i := range p.Members {
		m := &p.Members[i]
		if !m.Free() {
			held = append(held, fmt.Sprintf("%q by key %q", m.Name, m.Key))
		}
	}
	s := fmt.Sprintf("%d of %d member(s) free", len(p.Members)-len(held), len(p.Members))
	if len(held) == len(p.Members) {
		s = fmt.Sprintf("all %d member(s) held", len(p.Members))
	}
	if len(held) > 0 {
		if len(held) > 5 {
			held = append(held[:5], fmt.Sprintf("and %d more", len(held)-5))
		}
		s += " (" + strings.Join(held, ", ") + ")"
	}
	return s
}

// memberNames lists a pool's members, for messages.
func memberNames(p *client.Pool) string {
	if len(p.Members) == 0 {
		return "it has none"
	}
	names := make([]string, len(p.Members))
	for i := range p.Members {
		names[i] = p.Members[i].Name
	}
	return "its members: " + strings.Join(names, ", ")
}

// ourHolds is, per member, what holder has under key (heldOf).
func ourHolds(p *client.Pool, key, holder string) map[string]held {
	m := map[string]held{}
	for i := range p.Members {
		if h := heldOf(&p.Members[i], key, holder); h.count > 0 {
			m[p.Members[i].Name] = h
		}
	}
	return m
}

// poolAcquire takes any free member of the pool: the one free longest,
// waiting in the server's queue for the pool (first come, first served)
// while all are held, and while the pool has no members at all (as
// pool-resource does: a job may be adding them). It says on stderr what it
// waits for.
func (r *runner) poolAcquire(ctx context.Context, p *PoolParams) (*client.Lock, time.Duration, error) {
	pool := r.src.Pool
	start := time.Now()
	what := fmt.Sprintf("waiting for a member of pool %q", pool)
	pl, err := r.readPool(ctx, 0)
	if err != nil {
		return nil, 0, r.poolFailed(ctx, err, what)
	}
	// The holds we have already: after a request whose outcome the client
	// could not tell, a member with a hold taken since is one the server
	// gave us before the answer was lost.
	before := ourHolds(pl, p.Key, p.holder())
	state := describePool(pl)
	r.log.printf("acquiring a member of pool %q with key %q (%s)%s: the pool has %s", pool, p.Key, p.KeyFrom, asHolder(p), state)
	stop := r.poolProgress(ctx, p.Key, start, state)
	defer stop()
	b := backoff{max: r.src.RetryDelay}
	var saidEmpty time.Time
	for {
		l, err := r.c.AcquireFromPool(ctx, pool, client.LockOptions{Key: p.Key, Holder: p.Holder, OwnKey: p.ownHolder})
		if mh := (*client.MaybeHeldError)(nil); ctx.Err() == nil && errors.As(err, &mh) && mh.Lock != nil {
			// (params.locked_by given: not the step's own holder.) The
			// answer was lost and the pool shows a member taken by this
			// key and holder meanwhile: the step takes it as its own, as
			// a lock step does (no read tells it from another build's).
			l, err = mh.Lock, nil
			l.ReadBack = true
			l.Message = fmt.Sprintf("granted %q; the answer was lost on the way, and the pool's state read back", l.Name)
		}
		if err == nil {
			stop()
			waited := time.Since(start)
			if l.ReadBack {
				r.log.printf("%s", l.Message)
			}
			r.log.printf("took %q from pool %q with key %q%s, fence %d, after waiting %s", l.Name, pool, p.Key, asHolder(p), l.Fence, round(waited))
			r.warnLease(l, p.holder())
			return l, waited, nil
		}
		if ctx.Err() != nil {
			stop()
			return nil, 0, r.poolFailed(ctx, err, what)
		}
		var d time.Duration
		switch {
		case errors.Is(err, client.ErrPoolsUnsupported):
			return nil, 0, r.explain(err)
		case errors.Is(err, client.ErrNotFound):
			if saidEmpty.IsZero() || time.Since(saidEmpty) >= time.Minute {
				r.log.printf("pool %q has no members%s; waiting for one to be added (a put with add:), asking every %s", pool, r.otherPools(ctx), r.src.RetryDelay)
				saidEmpty = time.Now()
			}
			d = r.src.RetryDelay
		case transient(err):
			if errors.As(err, new(*client.WaitCutError)) {
				// A proxy cut the wait short (see lock): no back-off.
				b = backoff{max: r.src.RetryDelay}
			}
			d = b.next()
			r.log.printf("pool %q: %s; trying again in %s", pool, r.waitFailed(err), d)
		default:
			return nil, 0, r.explain(err)
		}
		if sleep(ctx, d) != nil {
			stop()
			return nil, 0, r.poolFailed(ctx, err, what)
		}
		if !errors.Is(err, client.ErrMaybeHeld) {
			// Nothing to look for: the client read the pool back and found
			// that the request took nothing (or it never reached the
			// server, or the pool had no members). A member held by our
			// key and holder now was taken since, by another build with
			// the same params.key and locked_by: taken for ours, two
			// builds would work on one member.
			continue
		}
		// The client could not read the pool back to tell: our own read
		// judges.
		now, err := r.readPool(ctx, 0)
		if err != nil {
			stop()
			return nil, 0, r.poolFailed(ctx, err, what)
		}
		for i := range now.Members {
			m := &now.Members[i]
			if heldOf(m, p.Key, p.holder()).newer(before[m.Name]) {
				stop()
				r.log.printf("the server gave us %q from pool %q before the connection broke: it is ours (key %q, holder %q, fence %d)", m.Name, pool, p.Key, p.holder(), m.Fence)
				m.Message = fmt.Sprintf("locked %q from pool %q with key %q (the answer was lost; the state was read back)", m.Name, pool, p.Key)
				r.warnLease(m, p.holder())
				return m, time.Since(start), nil
			}
		}
	}
}

// otherPools names the pools the server has, for a message about a pool
// without members (a typo in source.pool, say).
func (r *runner) otherPools(ctx context.Context) string {
	pools, err := r.c.Pools(ctx)
	if err != nil {
		return ""
	}
	if len(pools) == 0 {
		return " (the server has no pools yet)"
	}
	names := make([]string, len(pools))
	for i := range pools {
		names[i] = pools[i].Name
	}
	return " (the server's pools: " + strings.Join(names, ", ") + ")"
}

// poolProgress prints, while a member is waited for, the pool's state: when
// it changes (last is what was said before), and every minute regardless.
// It returns a function that stops it and waits until it has.
func (r *runner) poolProgress(ctx context.Context, key string, start time.Time, last string) (stop func()) {
	return r.watchWait(ctx, last, func(ctx context.Context) (state, extra string) {
		p, err := r.getPool(ctx)
		if err != nil {
			return fmt.Sprintf("unknown (%v)", r.explain(err)), ""
		}
		if p.Waiters > 0 {
			extra = fmt.Sprintf(", %d request(s) waiting", p.Waiters)
		}
		return describePool(p), extra
	}, func(state, extra string) {
		r.log.printf("waiting for a member of pool %q (key %q): it has %s%s; waited %s so far", r.src.Pool, key, state, extra, round(time.Since(start)))
	})
}

// poolFailed is the error of a pool operation that ended on err: when ctx
// ended, because source.timeout ran out or the build was aborted, with the
// pool's state.
func (r *runner) poolFailed(ctx context.Context, err error, doing string) error {
	if ctx.Err() == nil {
		return r.explain(err)
	}
	state := ""
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if p, gerr := r.getPool(sctx); gerr == nil {
		state = "; the pool has " + describePool(p)
	}
	cancel()
	if errors.Is(context.Cause(ctx), errTimeout) {
		return fmt.Errorf("gave up %s after %s (source.timeout)%s%s", doing, r.src.Timeout, state, r.lastError(err))
	}
	return fmt.Errorf("stopped %s (%v)%s", doing, context.Cause(ctx), state)
}

// member reads the named lock and checks it is a member of the pool.
func (r *runner) member(ctx context.Context, name string) (*client.Lock, error) {
	l, err := r.readLock(ctx, name, 0)
	if err != nil {
		return nil, r.failed(ctx, err, fmt.Sprintf("reading lock %q", name))
	}
	if !inPool(l, r.src.Pool) {
		msg := fmt.Sprintf("%q is not a member of pool %q", name, r.src.Pool)
		if p, err := r.readPool(ctx, inAttempts); err == nil {
			msg += " (" + memberNames(p) + ")"
		}
		return l, errors.New(msg)
	}
	return l, nil
}

// poolClaim takes the named member, waiting while it is held.
func (r *runner) poolClaim(ctx context.Context, p *PoolParams) (*client.Lock, time.Duration, error) {
	r.name = p.Name
	if l, err := r.member(ctx, p.Name); err != nil {
		if l == nil {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("cannot claim %q: %w; add it first (a put with add:), or check params.claim", p.Name, err)
	}
	l, waited, err := r.lock(ctx, p.Name, &OutParams{Op: "lock", Key: p.Key, Holder: p.Holder}, p.holder())
	if err != nil {
		return nil, 0, err
	}
	if !inPool(l, r.src.Pool) {
		// Removed from the pool while we waited: not what was asked for.
		r.giveBack(ctx, p.Name, p, l.Fence)
		return nil, 0, fmt.Errorf("%q was removed from pool %q while this put waited for it; it was given back", p.Name, r.src.Pool)
	}
	return l, waited, nil
}

// giveBack releases a hold taken by mistake (under fence), trying for a
// while, and reading the lock back before asking again (unlock).
func (r *runner) giveBack(ctx context.Context, name string, p *PoolParams, fence uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := r.unlock(ctx, name, &OutParams{Op: "unlock", Key: p.Key, Holder: p.Holder}, p.holder(), client.HoldRef{Fence: fence})
	if err != nil {
		flags := []string{"--key", p.Key, "--holder", p.holder()}
		if fence > 0 {
			flags = append(flags, "--fence", strconv.FormatUint(fence, 10))
		}
		r.log.printf("warning: could not give back %q (key %q, holder %q): %v; release it with `%s`", name, p.Key, p.holder(), r.explain(err), shellquote.Locker([]string{"unlock"}, []string{name}, flags...))
	}
}

// poolAddClaimed adds a member that is held from the start: it takes the
// lock first, then makes it a member, so that it is never a free member
// that another put could take in between.
func (r *runner) poolAddClaimed(ctx context.Context, p *PoolParams) (*client.Lock, time.Duration, error) {
	r.name = p.Name
	r.log.printf("adding %q to pool %q, claimed with key %q (%s)%s", p.Name, r.src.Pool, p.Key, p.KeyFrom, asHolder(p))
	taken, waited, err := r.lock(ctx, p.Name, &OutParams{Op: "lock", Key: p.Key, Holder: p.Holder}, p.holder())
	if err != nil {
		return nil, 0, err
	}
	l, err := r.addMember(ctx, p)
	if err != nil {
		r.giveBack(ctx, p.Name, p, taken.Fence)
		return nil, 0, err
	}
	r.log.printf("%q is a member of pool %q, held with key %q (fence %d)", p.Name, r.src.Pool, p.Key, l.Fence)
	return l, waited, nil
}

// addMember adds p.Name to the pool with p.Metadata (or updates its
// metadata), trying again while the server cannot be reached: adding
// twice is harmless.
func (r *runner) addMember(ctx context.Context, p *PoolParams) (*client.Lock, error) {
	var l *client.Lock
	err := r.retry(ctx, fmt.Sprintf("adding %q to pool %q", p.Name, r.src.Pool), 0, func() error {
		var err error
		l, err = r.c.AddMember(ctx, r.src.Pool, p.Name, p.Metadata)
		return err
	})
	if err != nil {
		return nil, r.failed(ctx, err, fmt.Sprintf("adding %q to pool %q", p.Name, r.src.Pool))
	}
	return l, nil
}

// poolAdd adds a member (add), or updates its metadata (update, which adds
// it if it is not a member yet, as pool-resource's does). Metadata changes
// at once, held or not.
func (r *runner) poolAdd(ctx context.Context, p *PoolParams) (*client.Lock, error) {
	r.name = p.Name
	prev, err := r.readLock(ctx, p.Name, 0)
	if err != nil {
		return nil, r.failed(ctx, err, fmt.Sprintf("reading lock %q", p.Name))
	}
	l, err := r.addMember(ctx, p)
	if err != nil {
		return nil, err
	}
	switch {
	case !inPool(prev, r.src.Pool):
		r.log.printf("added %q to pool %q: it is %s", p.Name, r.src.Pool, describe(l))
	case bytes.Equal(bytes.TrimSpace(prev.Metadata), bytes.TrimSpace(l.Metadata)):
		r.log.printf("%q is a member of pool %q already, with this metadata: nothing changed; it is %s", p.Name, r.src.Pool, describe(l))
	default:
		r.log.printf("updated the metadata of %q in pool %q; it is %s", p.Name, r.src.Pool, describe(l))
	}
	if p.Op == opAdd && inPool(prev, r.src.Pool) {
		r.log.printf("(%q was a member already: add updated it)", p.Name)
	}
	if !l.Free() {
		r.log.printf("note: %q is held: its holder's get wrote the metadata it had then", p.Name)
	}
	return l, nil
}

// poolRelease gives back the hold that the directory's get or put shows:
// with its key, and only if the member has not been released and taken
// again since (its fence), nor the holder's hold taken again within the
// holding period (the time it began, when the directory's get, of this
// build, shows it).
func (r *runner) poolRelease(ctx context.Context, p *PoolParams) (*client.Lock, error) {
	r.name = p.Name
	r.log.printf("releasing %q in pool %q (from %s)", p.Name, r.src.Pool, p.Dir)
	l, err := r.readLock(ctx, p.Name, 0)
	if err != nil {
		return nil, r.failed(ctx, err, fmt.Sprintf("releasing %q", p.Name))
	}
	if !l.Free() {
		if err := r.sameAcquisition(l, p, "release"); err != nil {
			return nil, err
		}
	}
	if l.Free() {
		r.log.printf("%q is free: nothing to release", p.Name)
		l.Message = fmt.Sprintf("%q was free already", p.Name)
		return l, nil
	}
	if p.Holder == "" && p.Key != "" && l.Key == p.Key {
		// No holder file: which hold is the directory's, ownHolder says
		// (the member's one holder, when nothing the directory recorded
		// says otherwise: pool-resource's directory, with params.key, say;
		// an acquire holds as the key and a part of its own).
		own, known := ownHolder(l, p)
		switch {
		case known:
			p.Holder = own
		case len(l.LockedBy) == 1:
			return r.notOwnOneHolder(l, p)
		}
	}
	if p.Key == "" {
		// The directory holds nothing: a get of a release (an ensure:
		// after the release), add, update or remove, whose member may
		// well be someone else's by now.
		r.log.printf("%s holds no hold on %q (its key file is empty: it was written by a release, add, update or remove, or when the member was free), and %q is %s now: nothing to release. (To release a hold of your own taken with another key, set params.key.)", p.Dir, p.Name, p.Name, describe(l))
		l.Message = fmt.Sprintf("%s held nothing on %q", p.Dir, p.Name)
		return l, nil
	}
	fence, _ := strconv.ParseUint(p.Fence, 10, 64) // 0, any, when the directory has none
	if l.Legacy {
		fence = 0
	}
	// By the fence only, as a single lock's release_dir (unlockFromDir
	// says why the directory's times are not used).
	return r.unlock(ctx, p.Name, &OutParams{Op: "unlock", Key: p.Key, Holder: p.Holder}, p.holder(), client.HoldRef{Fence: fence})
}

// sameAcquisition checks that the held lock l is still held by the
// acquisition that p's directory shows (its fence): a directory from an
// earlier acquisition must not release, or remove, a later one, even one
// that uses the same key, and its build learns that it lost the member.
func (r *runner) sameAcquisition(l *client.Lock, p *PoolParams, doing string) error {
	if p.Fence == "" || l.Legacy || fmt.Sprint(l.Fence) == p.Fence {
		return nil
	}
	return fmt.Errorf("cannot %s %q: it has been released and taken again since %s was read (fence %s there, %d now): it is %s; that hold is not the one this directory shows", doing, p.Name, p.Dir, p.Fence, l.Fence, describe(l))
}

// poolRemove takes the member out of the pool. A member held by someone
// else is refused; one held by the acquisition the directory shows (this
// pipeline's, with its key and fence) is released and removed in one step,
// as pool-resource removes a claimed lock.
func (r *runner) poolRemove(ctx context.Context, p *PoolParams) (*client.Lock, error) {
	r.name = p.Name
	pool := r.src.Pool
	l, err := r.member(ctx, p.Name)
	if err != nil {
		if l == nil {
			return nil, err
		}
		return nil, fmt.Errorf("cannot remove %q: %w", p.Name, err)
	}
	force, fence, holder, key := false, uint64(0), "", ""
	if !l.Free() {
		if p.Key == "" || l.Key != p.Key {
			return nil, fmt.Errorf("cannot remove %q from pool %q: it is %s. Release it first (a put with release:), or remove it from the directory of the get or put that holds it", p.Name, pool, describe(l))
		}
		if err := r.dirsAlone(l, p, pool); err != nil {
			return nil, err
		}
		force = true
		if !l.Legacy {
			// The server checks them too, at the moment of the removal:
			// the fence, so that a retry after the member was released
			// and taken again does not force the new holder away; the
			// key and the directory's holder, so that a holder joining
			// under the same key (and fence) since this read is not
			// forced away either. A Locker from before the holder
			// condition ignores it: then the read above is the check.
			fence, key = l.Fence, p.Key
			holder, _ = ownHolder(l, p)
		}
		r.log.printf("%q is held with key %q, this directory's: releasing it and removing it in one step", p.Name, p.Key)
	}
	var (
		out     *client.Lock
		retried bool
	)
	err = r.retry(ctx, fmt.Sprintf("removing %q from pool %q", p.Name, pool), 0, func() error {
		var err error
		out, err = r.c.RemoveMemberWith(ctx, pool, p.Name, client.RemoveOptions{Force: force, Fence: fence, Key: key, Holder: holder})
		if err != nil && transient(err) {
			retried = true
		}
		return err
	})
	var ae *client.APIError
	switch {
	case err == nil:
	case errors.Is(err, client.ErrHolderNotChecked) && out != nil:
		// Removed, every hold forced: a server from before the holder
		// condition. The read above found the directory's hold alone.
		r.notChecked("the holder of a forced removal", fmt.Sprintf("%q was removed from pool %q ending every hold on it, checked by the read before only (held by this directory's hold alone)", p.Name, pool))
	case retried && errors.Is(err, client.ErrNotFound) && !errors.Is(err, client.ErrPoolsUnsupported):
		// Removed by the attempt whose answer was lost.
		if out, err = r.readLock(ctx, p.Name, 0); err != nil {
			return nil, r.failed(ctx, err, fmt.Sprintf("reading lock %q", p.Name))
		}
	case errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil:
		if force && ae.Lock.Key == p.Key {
			// Refused by the server's own check: taken again since
			// the read, or joined by another holder under the key.
			if err := r.dirsAlone(ae.Lock, p, pool); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("cannot remove %q from pool %q: it is %s (taken meanwhile). Release it first, then remove it", p.Name, pool, describe(ae.Lock))
	case force && errors.Is(err, client.ErrForbidden):
		return nil, fmt.Errorf("cannot remove %q from pool %q while it is held: removing a held member releases it by force, which this server allows only to its admin user (%v). Release it first (a put with release:), then remove it, or give the resource the admin's credentials", p.Name, pool, err)
	default:
		return nil, r.failed(ctx, err, fmt.Sprintf("removing %q from pool %q", p.Name, pool))
	}
	r.log.printf("removed %q from pool %q; it is %s", p.Name, pool, describe(out))
	return out, nil
}

// notChecked notes that the server did not check what (a condition the
// step sent, which a server that predates it ignores), and what it did
// instead (did): the change was made, checked by the step's read before
// it only.
func (r *runner) notChecked(what, did string) {
	r.log.printf("note: the server does not check %s (it predates that); %s", what, did)
}

// dirsAlone checks, for the forced removal of l held under the directory's
// key, that l is still the acquisition the directory shows
// (sameAcquisition) and that no holder other than the directory's own
// holds it (othersHolding): before the removal, and again when the server
// refuses it.
func (r *runner) dirsAlone(l *client.Lock, p *PoolParams, pool string) error {
	if err := r.sameAcquisition(l, p, "remove"); err != nil {
		return err
	}
	return othersHolding(l, p, pool)
}

// othersHolding refuses the removal of l, held under the directory's key
// and acquisition, while holders other than the directory's own hold it
// (the key shared on purpose, or others joining the hold under it): the
// forced removal would end their holds too, and take the member from under
// them. The directory's own hold is its holder file (or params.locked_by);
// without one (a directory of an older resource, or pool-resource's), the
// member's one holder, or else the key, as a release takes it.
//
// This is read, then acted on; the removal then names the fence, the key
// and the directory's holder (ownHolder), and the server refuses it if a
// holder joined under the same key and fence since this read (a server
// from before that condition ignores it, and forces that holder away).
func othersHolding(l *client.Lock, p *PoolParams, pool string) error {
	own, known := ownHolder(l, p)
	var others []string
	for _, h := range l.Holders() {
		if h == own {
			continue
		}
		others = append(others, fmt.Sprintf("%q x%d", h, l.LockedBy[h]))
	}
	if len(others) == 0 {
		return nil
	}
	list := strings.Join(others, ", ")
	var who, next string
	switch {
	case !known:
		who = fmt.Sprintf("it is held under key %q by %s, and %s does not say which of these holds is its own (its holder file is missing or empty: written by an older resource, or the get of an older put's version), so this put takes them all for others'", l.Key, list, p.Dir)
		next = fmt.Sprintf("release the directory's hold (a put with release: %s and params.locked_by set to its holder), and ", p.Dir)
	case l.LockedBy[own] > 0:
		who = fmt.Sprintf("it is also held under key %q by %s, besides this directory's hold (%q)", l.Key, list, own)
		next = fmt.Sprintf("release this directory's hold (a put with release: %s), and ", p.Dir)
	default:
		who = fmt.Sprintf("it is held under key %q by %s, and this directory's hold (%q) is not among them any more", l.Key, list, own)
	}
	rm := []string{"--force"}
	if !l.Legacy {
		rm = append(rm, "--fence", strconv.FormatUint(l.Fence, 10))
	}
	return fmt.Errorf("cannot remove %q from pool %q: %s; removing it would release their hold too (a removal of a held member ends every hold), taking the member from under them. To go on: %sremove the member once the others have released theirs (a put with remove: %s then removes it); or, if they are done with it, remove it by hand: %s",
		p.Name, pool, who, next, p.Dir, shellquote.Locker([]string{"pool", "rm"}, []string{pool, p.Name}, rm...))
}

// ownHolder is the directory's own hold on l, held under its key: its
// holder file (or params.locked_by, or the one name its get recorded),
// and known; without one, l's one holder, and known, unless the directory
// recorded the holders of this hold (dirRecorded) and they are not that
// one alone: several (the directory's hold may have been given back, and
// the one left be another build's that shares the key) or others (it
// joined since the get); else the key (as a release takes it), not known.
func ownHolder(l *client.Lock, p *PoolParams) (own string, known bool) {
	if p.Holder != "" {
		return p.Holder, true
	}
	if len(l.LockedBy) == 1 {
		for h := range l.LockedBy {
			if rec := dirRecorded(l, p); rec == nil || slices.Equal(rec, []string{h}) {
				return h, true
			}
		}
	}
	return p.Key, false
}

// dirRecorded is, when the directory's get read the hold l has now (the
// same key, and fence if it has one), the holders it recorded of it; nil
// when it recorded none (pool-resource's directory, a task's output, or
// one written when the member was free), or another hold.
func dirRecorded(l *client.Lock, p *PoolParams) []string {
	key, fence := p.Key, p.Fence
	if p.Op == opAdd || p.Op == opUpdate {
		key, fence = p.DirKey, p.DirFence
	}
	if key != l.Key || (fence != "" && !l.Legacy && fence != fmt.Sprint(l.Fence)) {
		return nil
	}
	return p.DirHolders
}

// notOwnOneHolder answers a release from a directory without a holder
// file when l, held under its key by one holder, may not be its hold
// (ownHolder does not know it): nothing is released. A holder that the
// directory's get did not record joined since: the directory's own hold
// was given back already, and the release is done. One it recorded among
// others may be the directory's or another's that shares the key: the
// release is refused, naming how to release it if it is this build's.
func (r *runner) notOwnOneHolder(l *client.Lock, p *PoolParams) (*client.Lock, error) {
	h := l.Holders()[0]
	file := filepath.Join(p.Dir, p.DirHoldersFrom)
	if !slices.Contains(p.DirHolders, h) {
		r.log.printf("%q is held under key %q by %q alone, and %q is not in %s (the holders when %s was read): it took its hold since, so it is not this directory's, whose hold was given back already. Nothing to release; %q's hold stays", p.Name, l.Key, h, h, file, p.Dir, h)
		l.Message = fmt.Sprintf("%s held nothing on %q any more", p.Dir, p.Name)
		return l, nil
	}
	unlock := []string{"--key", l.Key, "--holder", h}
	if !l.Legacy {
		unlock = append(unlock, "--fence", strconv.FormatUint(l.Fence, 10))
	}
	return nil, fmt.Errorf("cannot release %q: it is held under key %q by %q x%d alone, and %s does not say whether that hold is its own (it has no holder file: written by an older resource, or the get of an older put's version; %s names %s): its own may have been given back already, and this one be another build's that shares the key. Nothing was released. If the hold is this build's, set params.locked_by to %q on this put, or release it by hand: %s",
		p.Name, l.Key, h, l.LockedBy[h], p.Dir, file, quoteAll(p.DirHolders), h, shellquote.Locker([]string{"unlock"}, []string{p.Name}, unlock...))
}

// quoteAll lists names, quoted, for messages.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// inPool reports whether l is a member of pool.
func inPool(l *client.Lock, pool string) bool {
	return slices.Contains(l.Pools, pool)
}

// isAcquisition reports whether a version is the one a put that took a
// member emitted: {"name", "fence"}, without "op".
func isAcquisition(v Version) bool {
	_, hasOp := v["op"]
	return v["name"] != "" && v["fence"] != "" && !hasOp
}

// poolIn writes, for a version of a member (from a put), the member's files
// — name and metadata as pool-resource's get writes them, and the files of
// a single lock's get — and, for a version of the pool (from check), the
// pool as JSON.
func (r *runner) poolIn(ctx context.Context, dir string, requested Version) (*response, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the directory %s: %v", dir, err)
	}
	if requested["name"] == "" {
		return r.poolStateIn(ctx, dir, requested)
	}
	name := requested["name"]
	pool := r.src.Pool
	l, err := r.readLock(ctx, name, inAttempts)
	fromVersion := false
	if err != nil {
		// The get that Concourse runs after an acquire: failing it fails
		// the put, and the member just taken would stay held with no step
		// left to release it. An acquisition's version says what it
		// took: write that, and say so (as in does for a single lock).
		v, ok := lockFromVersion(name, requested)
		if !ok || !isAcquisition(requested) || v.Free() || !unreadable(err) {
			return nil, r.explain(err)
		}
		r.log.printf("warning: cannot read %q (%v); the files show it as this version has it: %s, fence %d; without its metadata, which could not be read (no metadata file)", name, r.explain(err), describe(v), v.Fence)
		l, fromVersion = v, true
	}
	if isAcquisition(requested) {
		switch fence := requested["fence"]; {
		case !l.Free() && fmt.Sprint(l.Fence) != fence:
			return nil, fmt.Errorf("%q in pool %q is no longer held by the acquisition of this version (fence %s): it has been released and taken again, and is %s now (fence %d)", name, pool, fence, describe(l), l.Fence)
		case l.Free():
			r.log.printf("warning: %q has been released since this version took it (fence %s): it is free now", name, fence)
		}
	}
	js, err := lockJSON(l)
	if err != nil {
		return nil, err
	}
	locked := "false"
	if !l.Free() {
		locked = "true"
	}
	files := map[string][]byte{
		// pool-resource's get: echo "$name" > name; the lock file's
		// content as it is in metadata.
		"name":    []byte(name + "\n"),
		"lock":    []byte(js),
		"key":     []byte(l.Key),
		"locked":  []byte(locked),
		"holders": []byte(strings.Join(holderNames(l.LockedBy), "\n")),
		"fence":   []byte(fmt.Sprint(l.Fence)),
		// The hold of the put of this version (an acquisition's, or an
		// add's or update's that the build holds), among the holders:
		// empty when the version does not say (a put by an older
		// resource), or holds nothing.
		"holder": nil,
	}
	if !l.Free() {
		// (Emptied below for a version that holds nothing.)
		files["holder"] = []byte(requested["holder"])
	}
	if !isAcquisition(requested) && (requested["held"] == "" || l.Free() || fmt.Sprint(l.Fence) != requested["held"]) {
		// A version of a release, add, update or remove holds nothing,
		// unless it is an update (or add) of a member its build held and
		// still holds (the same fence): whoever holds the member now is
		// another build, and a release or remove from this directory
		// must not act for it.
		files["key"], files["holders"], files["fence"], files["holder"] = nil, nil, nil, nil
		if !l.Free() {
			r.log.printf("%q is %s now; this version (%s) holds nothing on it, so its key, holders, holder and fence files are empty", name, describe(l), requested["op"])
		}
	}
	switch {
	case fromVersion:
	case inPool(l, pool):
		files["metadata"] = metadataText(l.Metadata)
	default:
		r.log.printf("%q is not a member of pool %q (any more): no metadata file", name, pool)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), content, 0o644); err != nil {
			return nil, fmt.Errorf("cannot write %s: %v", filepath.Join(dir, f), err)
		}
	}
	r.log.printf("%q in pool %q is %s", name, pool, describe(l))
	var m metadata
	m.add("pool", pool)
	for _, nv := range lockMetadata(l) {
		if nv.Name == "lock" {
			nv.Name = "name"
		}
		m = append(m, nv)
	}
	return &response{Version: requested, Metadata: m}, nil
}

// poolStateIn writes the pool's state, as JSON, to the file pool.
func (r *runner) poolStateIn(ctx context.Context, dir string, requested Version) (*response, error) {
	p, err := r.readPool(ctx, inAttempts)
	if err != nil {
		return nil, r.explain(err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pool"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write %s: %v", filepath.Join(dir, "pool"), err)
	}
	cur := poolVersion(p)
	v := requested
	if v == nil {
		v = cur
	} else if !maps.Equal(v, cur) {
		r.log.printf("pool %q has changed since this version; the pool file shows it as it is now", r.src.Pool)
	}
	r.log.printf("this version is of the pool's state, not of a member: it writes the pool file only (a get of a put's version writes name and metadata). Pool %q has %s", r.src.Pool, describePool(p))
	var m metadata
	m.add("pool", r.src.Pool)
	m.add("free", fmt.Sprint(p.Free))
	m.add("total", fmt.Sprint(len(p.Members)))
	m.add("state", describePool(p))
	return &response{Version: v, Metadata: m}, nil
}

// poolCheck answers with the pool's current version, following the rule of
// the lock's check: the requested version when the pool is still in that
// state, the current one otherwise.
func (r *runner) poolCheck(ctx context.Context, requested Version) ([]Version, error) {
	p, err := r.getPool(ctx)
	if err != nil {
		return nil, r.explain(err)
	}
	if len(p.Members) == 0 {
		// A typo in source.pool would otherwise look like a pool that
		// is empty for now.
		r.log.printf("pool %q has no members%s", r.src.Pool, r.otherPools(ctx))
	}
	return checkAnswer(requested, poolVersion(p)), nil
}

// poolVersion is the version for a pool's state: a digest of its members,
// with their states, holders, fencing tokens and metadata. It changes
// whenever a member is taken, released, added, removed or given new
// metadata; fencing tokens only grow, so a state seldom comes back as an
// earlier version.
func poolVersion(p *client.Pool) Version {
	type memberState struct {
		Name      string         `json:"name"`
		State     string         `json:"state"`
		Key       string         `json:"key"`
		Holders   map[string]int `json:"holders"`
		Fence     uint64         `json:"fence"`
		FreeSince string         `json:"free_since"`
		Metadata  string         `json:"metadata"`
	}
	members := make([]memberState, 0, len(p.Members))
	free := 0
	for i := range p.Members {
		m := &p.Members[i]
		if m.Free() {
			free++
		}
		fs := ""
		if !m.FreeSince.IsZero() {
			fs = m.FreeSince.UTC().Format(time.RFC3339Nano)
		}
		members = append(members, memberState{m.Name, m.State, m.Key, sortedCounts(m.LockedBy), m.Fence, fs, shortDigest(bytes.TrimSpace(m.Metadata))})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	b, _ := json.Marshal(members)
	sum := sha256.Sum256(b)
	return Version{"digest": hex.EncodeToString(sum[:]), "free": fmt.Sprint(free), "total": fmt.Sprint(len(p.Members))}
}
