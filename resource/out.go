package resource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
)

// out takes or gives back one hold on the lock, as params say. dir is the
// build's directory of artifacts (Concourse passes it; it may be "").
func (r *runner) out(ctx context.Context, dir string, p *OutParams) (*response, error) {
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	name, err := r.lockName(ctx, 0, dir)
	if err != nil {
		return nil, r.failed(ctx, err, "finding the lock's name")
	}
	holder := p.Holder
	if holder == "" {
		holder = p.Key // as the server has it
	}
	var (
		l      *client.Lock
		waited time.Duration
	)
	switch {
	case p.Op == "lock":
		l, waited, err = r.lock(ctx, name, p, holder)
	case p.Release != nil:
		l, err = r.unlockFromDir(ctx, name, p, holder)
	default:
		l, err = r.unlock(ctx, name, p, holder, client.HoldRef{})
	}
	if err != nil {
		return nil, err
	}
	if l.Legacy {
		// The original server answers a change with a message only: read
		// the state it left.
		err := r.retry(ctx, fmt.Sprintf("reading lock %q", name), inAttempts, func() error {
			got, err := r.getLock(ctx, name)
			if err == nil {
				got.Message = l.Message
				l = got
			}
			return err
		})
		switch {
		case err != nil:
			r.log.printf("warning: the %s succeeded, but reading the lock's state after it failed (%v): the version may not show the state", p.Op, r.explain(err))
		case p.Op == "lock" && l.Key != p.Key:
			// The answer said yes, but the lock is not held under our
			// key: not a locker's answer (a catch-all endpoint's 200),
			// or the hold ended already. Going on would run the build's
			// steps without the lock.
			return nil, fmt.Errorf("the server answered the lock with success (%q), but lock %q is %s when read back, not held under key %q: the lock was not taken. Is source.locker_uri (%s) the locker server?", l.Message, name, describe(l), p.Key, redactURL(r.src.LockerURI))
		case p.Op == "lock" && countOf(l, p.Key, holder) == 0:
			// Held under our key, so no other key has it; but a server
			// that records holders under another field shows another
			// holder, and an unlock as this one may release nothing.
			r.log.printf("warning: lock %q is held under key %q, but shows no hold of holder %q (holders: %s): the server may record holders otherwise, and an unlock with this locked_by may release nothing", name, p.Key, holder, holdersText(l, true))
		case p.Op == "lock":
			r.log.printf("took lock %q with key %q as %q: it is now %s", name, p.Key, holder, describe(l))
		default:
			r.log.printf("lock %q is now %s", name, describe(l))
		}
	}
	if n := countOf(l, p.Key, holder); p.Op == "lock" && n > 1 {
		// The same key shares the lock: granted at once beside a hold
		// of this key and holder, this build goes on with the lock
		// while that hold's build does too, and one unlock of theirs
		// leaves it held.
		r.log.printf("warning: %q held lock %q under key %q already (count %d now): another build of this job holds it too (a job that is not serial: true), or this lock step ran before in this build (attempts:, or a second lock step) — either way this build does not have the lock to itself. Make the job serial: true (or give each job its own key, or locked_by), put no attempts: on a lock step, and give each lock step an unlock (docs/concourse.md)", holder, name, p.Key, n)
	}
	l.Name = name
	var m metadata
	m.add("lock", name)
	m.add("operation", p.Op)
	m.add("key", p.Key)
	m.add("holder", holder)
	if p.Op == "lock" {
		m.add("waited", round(waited).String())
	}
	m.addLock(l)
	return &response{Version: r.version(l), Metadata: m}, nil
}

// addLock adds the server's response about l and l's state: lockMetadata
// without the name (said already) and with the key as lock_key.
func (m *metadata) addLock(l *client.Lock) {
	if l.Message != "" {
		m.add("response", l.Message)
	}
	for _, nv := range lockMetadata(l) {
		switch nv.Name {
		case "lock":
		case "key":
			m.add("lock_key", nv.Value)
		default:
			m.add(nv.Name, nv.Value)
		}
	}
}

// lock takes one hold, waiting for as long as the lock is held under another
// key: in the server's queue when it has blocking waits, polling every
// retry_delay otherwise. It says on stderr who holds the lock and how long
// it has waited.
func (r *runner) lock(ctx context.Context, name string, p *OutParams, holder string) (*client.Lock, time.Duration, error) {
	start := time.Now()
	// The holds we have already (and their fence): after a request whose
	// outcome the client could not tell, a hold taken since means the
	// server granted it and the answer was lost — asking again would
	// take the lock twice, and one unlock would then not free it.
	var (
		before held
		state  string
		legacy bool
	)
	err := r.retry(ctx, fmt.Sprintf("reading lock %q", name), 0, func() error {
		l, err := r.getLock(ctx, name)
		if err == nil {
			before, state, legacy = heldOf(l, p.Key, holder), describe(l), l.Legacy
			if !l.Free() && l.Key != p.Key {
				r.log.printf("lock %q is %s; waiting for it (key %q, holder %q)", name, state, p.Key, holder)
			}
		}
		return err
	})
	if err != nil {
		return nil, 0, r.failed(ctx, err, fmt.Sprintf("waiting for lock %q", name))
	}
	stop := r.progress(ctx, name, p.Key, start, state)
	defer stop()
	b := backoff{max: r.src.RetryDelay}
	for {
		l, err := r.c.Acquire(ctx, name, client.LockOptions{Key: p.Key, Holder: p.Holder})
		if mh := (*client.MaybeHeldError)(nil); ctx.Err() == nil && errors.As(err, &mh) {
			// The answer was lost and the lock shows a hold of this key
			// and holder taken meanwhile: the step takes it as its own,
			// as concourse.md says (builds of one job share the key and
			// holder, and no read tells their holds apart).
			l, err = mh.Lock, nil
			l.ReadBack = true
			l.Message = "granted; the answer was lost on the way, and the lock's state read back"
		}
		if err == nil {
			stop()
			waited := time.Since(start)
			if l.Legacy && !l.ReadBack {
				// A message only: out reads the lock back, and says
				// whether the step has it.
				r.log.printf("the server answered the lock of %q with key %q as %q after waiting %s: %q; reading the lock back", name, p.Key, holder, round(waited), l.Message)
			} else {
				r.log.printf("took lock %q with key %q as %q%s after waiting %s: %s", name, p.Key, holder, fenceText(l), round(waited), l.Message)
			}
			r.warnLease(l, holder)
			return l, waited, nil
		}
		if ctx.Err() != nil {
			stop()
			return nil, 0, maybeGranted(r.failed(ctx, err, fmt.Sprintf("waiting for lock %q", name)), err, p.Key, holder)
		}
		if !transient(err) && !errors.Is(err, client.ErrNotLocker) {
			// (A 2xx that is not Locker's JSON came from something in
			// between, perhaps after the server granted it: read back
			// below.)
			return nil, 0, r.explain(err)
		}
		if errors.As(err, new(*client.WaitCutError)) {
			// A proxy cut the wait short: the server was there, waiting;
			// nothing to back off from, and each pause is time out of
			// the server's queue.
			b = backoff{max: r.src.RetryDelay}
		}
		d := b.next()
		r.log.printf("lock %q: %s; trying again in %s", name, r.waitFailed(err), d)
		if sleep(ctx, d) != nil {
			stop()
			return nil, 0, r.failed(ctx, err, fmt.Sprintf("waiting for lock %q", name))
		}
		if !legacy && !errors.Is(err, client.ErrMaybeHeld) {
			// The client read the lock back and found that the request
			// took nothing (or it never reached the server): a hold of our
			// key and holder there now was taken since, by another build
			// of the job (builds share the key and holder), not by this
			// step. Taken for ours, both builds would run on one count,
			// and the first unlock would free the lock while the other
			// still works.
			continue
		}
		// The client could not tell (it could not read the lock back), or
		// cannot with the original server: our own read judges.
		now, err := r.readLock(ctx, name, 0)
		if err != nil {
			stop()
			return nil, 0, r.failed(ctx, err, fmt.Sprintf("waiting for lock %q", name))
		}
		if heldOf(now, p.Key, holder).newer(before) {
			stop()
			waited := time.Since(start)
			r.log.printf("the server granted the hold on lock %q before the connection broke: it is ours (key %q, holder %q%s)", name, p.Key, holder, fenceText(now))
			now.Message = fmt.Sprintf("locked %q with key %q (the answer was lost; the state was read back)", name, p.Key)
			r.warnLease(now, holder)
			return now, waited, nil
		}
	}
}

// unlock gives back one hold. Network errors and an unavailable server are
// retried, with a back-off, until it succeeds or source.timeout passes: an
// unlock must not be lost. A lock held under another key fails at once.
// The release names the hold meant (ref; where its fence is 0 or its time
// zero, the one the lock has when read first): by its fence, so that a
// hold taken afresh since, even by the same key and holder, is left alone,
// and by the time it began, so that one the same key and holder took again
// while another holder under the key kept the lock held (the same fence)
// is left alone too.
func (r *runner) unlock(ctx context.Context, name string, p *OutParams, holder string, ref client.HoldRef) (*client.Lock, error) {
	var (
		before int
		// nothing is the lock as read when it shows no hold of our key
		// and holder (free, or held under our key by others): there is
		// nothing to release, and a release sent anyway, by key and
		// holder, would end the hold that another build with our key
		// and holder (builds of a job that is not serial share them)
		// took between the read and the release.
		nothing *client.Lock
		// otherFence is the fence of the hold of another key that the
		// read showed: the release is sent (the server refuses it, and
		// the step fails, as concourse.md says) with that fence, so
		// that should the lock be given up and taken by a build with
		// our key and holder meanwhile, the server refuses that too.
		otherFence uint64
	)
	fence, acquired := ref.Fence, ref.Acquired
	err := r.retry(ctx, fmt.Sprintf("reading lock %q", name), 0, func() error {
		l, err := r.getLock(ctx, name)
		if err != nil {
			return err
		}
		before, nothing, otherFence = countOf(l, p.Key, holder), nil, 0
		if before == 0 && !l.Legacy && fence == 0 && acquired.IsZero() {
			// (The original server's read may miss a hold that it
			// records otherwise: the release is sent to it, as before.)
			if l.Free() || l.Key == p.Key {
				nothing = l
			} else {
				otherFence = l.Fence
			}
		}
		switch {
		case (before > 0 || l.Key != "") && l.TakenAgainSince(fence):
			// Released and taken again since the hold this step means
			// was taken: the hold there now, even with our key, is
			// another acquisition's (or another key's: nothing is
			// ours to release, and the step says why).
			r.log.printf("lock %q was released and taken again since fence %d: it is %s (fence %d); nothing is released", name, fence, describe(l), l.Fence)
			before = 0
		case before > 0 && l.TakenAgainWithin(holder, acquired):
			// The same holding period, but our holder's hold there now
			// began at another time: the one meant was released (or ran
			// out) and the same key and holder took the lock again while
			// another holder kept it, such as another build of the job.
			r.log.printf("%s; nothing is released", takenAgainText(l, holder, acquired))
			before = 0
		case before > 0:
			if !l.Legacy {
				fence = l.Fence
				if acquired.IsZero() {
					acquired = l.Holds[holder].Acquired
				}
			}
		case l.Free():
			r.log.printf("lock %q is free: nothing to release", name)
		case l.Key == p.Key:
			r.log.printf("warning: %q holds nothing on lock %q under key %q, so nothing is released; the lock stays %s. Did the lock step use another locked_by?", holder, name, p.Key, describe(l))
		}
		return nil
	})
	if err != nil {
		return nil, r.failed(ctx, err, fmt.Sprintf("releasing lock %q", name))
	}
	if nothing != nil {
		if nothing.Free() {
			nothing.Message = fmt.Sprintf("lock %q is not held; nothing was released", name)
		} else {
			nothing.Message = fmt.Sprintf("%q holds nothing on lock %q under key %q; nothing was released", holder, name, p.Key)
		}
		return nothing, nil
	}
	if otherFence != 0 {
		fence = otherFence
	}
	if before == 0 && (fence != 0 || !acquired.IsZero()) && otherFence == 0 {
		// The hold is gone: sending the release would end another's.
		l, err := r.readLock(ctx, name, 0)
		if err != nil {
			return nil, r.unlockFailed(ctx, err, name, p.Key, holder, before, fence)
		}
		l.Message = goneText(name, holder, fence, acquired)
		return l, nil
	}
	b := backoff{max: r.src.RetryDelay}
	for {
		// With the fence and the start of the hold read above: should
		// it be lost and taken afresh (by a build with the same key and
		// holder), or taken again within the holding period, before the
		// release arrives, the server refuses rather than release that
		// build's hold.
		l, err := r.c.UnlockHold(ctx, name, p.Key, p.Holder, client.HoldRef{Fence: fence, Acquired: acquired})
		switch {
		case errors.Is(err, client.ErrFenceNotChecked):
			// A server from before fenced releases: released by key and
			// holder, as this resource did before, checked by the read
			// above only.
			r.notChecked("the fence of a release", fmt.Sprintf("the hold of key %q, holder %q was released whatever its fence", p.Key, holder))
			err = nil
		case errors.Is(err, client.ErrAcquiredNotChecked):
			// A server from before the time a hold began was checked:
			// released by fence, key and holder, checked by the read
			// above only.
			r.notChecked("the time a hold began in a release", fmt.Sprintf("the hold of key %q, holder %q under fence %d was released whenever it began, not only the one that began at %s", p.Key, holder, fence, acquired.UTC().Format(time.RFC3339Nano)))
			err = nil
		}
		var ae *client.APIError
		if errors.As(err, &ae) && errors.Is(err, client.ErrLocked) && ae.Lock != nil && ae.Lock.TakenAgainSince(fence) {
			// Lost and taken again between the read and the release.
			r.log.printf("lock %q was released and taken again since fence %d: it is %s (fence %d); nothing is released", name, fence, describe(ae.Lock), ae.Lock.Fence)
			ae.Lock.Message = goneText(name, holder, fence, time.Time{})
			return ae.Lock, nil
		}
		if ae != nil && errors.Is(err, client.ErrLocked) && ae.Lock != nil && ae.Lock.Key == p.Key && ae.Lock.TakenAgainWithin(holder, acquired) {
			// Still under our key and fence, but released (or run out)
			// and taken again by our key and holder between the read and
			// the release: the server refused to release that hold.
			r.log.printf("%s; nothing is released", takenAgainText(ae.Lock, holder, acquired))
			ae.Lock.Message = goneText(name, holder, fence, acquired)
			return ae.Lock, nil
		}
		if err == nil {
			if l.Legacy || (l.Free() && strings.HasSuffix(l.Message, "the lock is free")) {
				// The answer has no state (run reads it back and says),
				// or says already that the lock is free.
				r.log.printf("released lock %q (key %q, holder %q): %s", name, p.Key, holder, l.Message)
			} else {
				r.log.printf("released lock %q (key %q, holder %q): %s; it is now %s", name, p.Key, holder, l.Message, describe(l))
			}
			return l, nil
		}
		if errors.Is(err, client.ErrLocked) {
			return nil, r.notOurs(name, p.Key, err)
		}
		if ctx.Err() != nil {
			return nil, r.unlockFailed(ctx, err, name, p.Key, holder, before, fence)
		}
		if !transient(err) && !errors.Is(err, client.ErrNotLocker) {
			return nil, r.explain(err)
		}
		d := b.next()
		r.log.printf("releasing lock %q: %v; trying again in %s", name, r.explain(err), d)
		if sleep(ctx, d) != nil {
			return nil, r.unlockFailed(ctx, err, name, p.Key, holder, before, fence)
		}
		if before == 0 || !client.Ambiguous(err) {
			// Nothing held to look for; or the release was not made
			// (the server's own refusal for now, or it never reached
			// the server): sent again. A count gone down meanwhile is
			// another build's release (builds of a job that is not
			// serial share the key and holder), not this step's.
			continue
		}
		// The release may have been made and its answer lost: read the
		// lock back before sending it again. Our hold is gone when the
		// count went down, or the lock is free, or it was taken again
		// since (another fence, or our holder's hold began at another
		// time): a build that shares our key and holder may have taken
		// it meanwhile, and a second release would end that build's
		// hold.
		now, err := r.readLock(ctx, name, 0)
		if err != nil {
			return nil, r.unlockFailed(ctx, err, name, p.Key, holder, before, fence)
		}
		if countOf(now, p.Key, holder) < before || now.Free() || now.TakenAgainSince(fence) || now.TakenAgainWithin(holder, acquired) {
			r.log.printf("the server released the hold on lock %q before the connection broke; it is now %s", name, describe(now))
			now.Message = fmt.Sprintf("released a hold on %q (the answer was lost; the state was read back)", name)
			return now, nil
		}
	}
}

// unlockFromDir gives back the hold that params.release_dir's directory
// shows (the lock step's, its get wrote the fence it was granted under,
// and the lock with the time each hold began): only while the lock is
// still in that holding period, so that a late unlock, after the lease ran
// out and a build with the same key and holder took the lock afresh,
// leaves that build's hold alone; and only while the holder's hold is the
// one that began then, so that in a lock shared under the key (another
// holder keeping it held, and the fence with it) a hold the same key and
// holder took again is left alone too. A directory of
// another lock, key or holder is refused, before anything is sent; one
// without a fence (the original server's get writes none) releases by key
// and holder, as without release_dir.
func (r *runner) unlockFromDir(ctx context.Context, name string, p *OutParams, holder string) (*client.Lock, error) {
	d := p.Release
	what := fmt.Sprintf("params.release_dir is %q", d.Dir)
	if d.Name != name {
		return nil, fmt.Errorf("%s, but its name file names lock %q, not this resource's lock %q: set it to the name of the put step of this resource that took the lock", what, d.Name, name)
	}
	if d.Locked == "false" || (d.HasKey && d.Key == "") {
		// A get of the lock while it was free (before the lock step, or
		// after its lease ran out): no hold of this step's to name.
		l, err := r.readLock(ctx, name, 0)
		if err != nil {
			return nil, r.failed(ctx, err, fmt.Sprintf("releasing lock %q", name))
		}
		r.log.printf("%s shows lock %q free: it holds no hold to release, and nothing is released; the lock is %s now. (%s, or leave release_dir out to release by key and holder.)", d.Dir, name, describe(l), strings.ToUpper(releaseDirHelp[:1])+releaseDirHelp[1:])
		l.Message = fmt.Sprintf("%s held nothing on %q", d.Dir, name)
		return l, nil
	}
	if d.HasKey && d.Key != p.Key {
		return nil, fmt.Errorf("%s, but it shows lock %q held under key %q, not params.key %q: set params.key to the key the lock step took it with, or release_dir to the put step that took it with key %q", what, name, d.Key, p.Key, p.Key)
	}
	if d.HasHolders && len(d.Holders) > 0 && !slices.Contains(d.Holders, holder) {
		return nil, fmt.Errorf("%s, but it shows no hold of holder %q on lock %q (holders: %s): set params.locked_by to the lock step's, or release_dir to the put step that took it as %q", what, holder, name, strings.Join(d.Holders, ", "), holder)
	}
	if d.Fence == "" {
		r.log.printf("note: %s has no fence (a get from the original server writes none): releasing the hold of key %q, holder %q by key and holder, as without release_dir", d.Dir, p.Key, holder)
		return r.unlock(ctx, name, p, holder, client.HoldRef{})
	}
	fence, _ := strconv.ParseUint(d.Fence, 10, 64) // checked by readReleaseDir
	// By the fence only, with the time the hold began as read first (in
	// unlock), not as the directory shows it: Concourse hands a get the
	// files of a version fetched before without running it (versions
	// are compared by content), and in a lock shared under one key a
	// hold taken again by the same key and holder has the version of the
	// one before it. A build that gives the lock back and takes it again
	// so can be handed its first get's files for the second, and a
	// release naming the first hold's start would leave the second held
	// for good.
	r.log.printf("releasing the hold of key %q, holder %q granted under fence %d from %s: a hold taken afresh since is left alone", p.Key, holder, fence, d.Dir)
	return r.unlock(ctx, name, p, holder, client.HoldRef{Fence: fence})
}

// unlockFailed is failed for an unlock that stopped (source.timeout, the
// build aborted, or the lock could not be read back) after it read a hold
// of its own on the lock (before > 0, under fence): that hold stays, and
// nothing in the pipeline will release it, so the error names the command
// that does.
func (r *runner) unlockFailed(ctx context.Context, err error, name, key, holder string, before int, fence uint64) error {
	failed := r.failed(ctx, err, fmt.Sprintf("releasing lock %q", name))
	if before == 0 {
		return failed
	}
	flags := []string{"--key", key, "--holder", holder}
	if fence != 0 {
		flags = append(flags, "--fence", strconv.FormatUint(fence, 10))
	}
	return fmt.Errorf("%w. Unless it was released meanwhile, this step's hold (key %q, holder %q) stays on the lock: release it with %s", failed, key, holder, shellquote.Locker([]string{"unlock"}, []string{name}, flags...))
}

// takenAgainText says that holder's hold of l that began at acquired is
// gone, taken again since (Lock.TakenAgainWithin).
func takenAgainText(l *client.Lock, holder string, acquired time.Time) string {
	return fmt.Sprintf("the hold of %q on lock %q that began at %s is gone: %q took the lock again at %s, under the same fence %d (another holder under key %q kept it held); it is %s", holder, l.Name, acquired.UTC().Format(time.RFC3339Nano), holder, l.Holds[holder].Acquired.UTC().Format(time.RFC3339Nano), l.Fence, l.Key, describe(l))
}

// goneText is the response of an unlock whose hold was gone already: the
// hold under fence (0: none named), or the one that began at acquired.
func goneText(name, holder string, fence uint64, acquired time.Time) string {
	if acquired.IsZero() {
		return fmt.Sprintf("the hold on %q under fence %d was gone already", name, fence)
	}
	return fmt.Sprintf("the hold of %q on %q under fence %d that began at %s was gone already", holder, name, fence, acquired.UTC().Format(time.RFC3339Nano))
}

// warnLease says so when the server gave the hold a lease (its
// LOCKER_DEFAULT_TTL or LOCKER_MAX_TTL): this resource never renews one, so
// a build still working when it runs out loses the lock to the next key
// without a word.
func (r *runner) warnLease(l *client.Lock, holder string) {
	if h, ok := l.Holds[holder]; ok && !h.Expires.IsZero() {
		r.log.printf("warning: the server gave this hold a lease: it runs out at %s (the server's LOCKER_DEFAULT_TTL or LOCKER_MAX_TTL), and this resource does not renew it; if the build still needs the lock then, the next key gets it. A server that pipelines lock through should set no default lease (docs/concourse.md)", h.Expires.UTC().Format(time.RFC3339))
	}
}

// notOurs is the error for an unlock refused because another key holds the
// lock.
func (r *runner) notOurs(name, key string, err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Lock != nil {
		return fmt.Errorf("cannot unlock %q with key %q: it is %s. params.key must be the key the lock was taken with (%v)", name, key, describe(ae.Lock), err)
	}
	return fmt.Errorf("cannot unlock %q with key %q: the server says it is held under another key (%v). params.key must be the key the lock was taken with", name, key, err)
}

// failed is the error of an out that ended on err: when ctx ended, because
// source.timeout ran out or the build was aborted.
// maybeGranted adds to failed, the error of a step stopped while it
// waited, what the client found when it read the lock back (err matches
// client.ErrMaybeHeld): the server may have granted the step's request just
// as it stopped. That hold is not given back, since another build's hold
// (builds of a job that is not serial share the key and holder) would
// look the same; but the step says so, and how to release it, rather than
// leave a lock held with nobody told.
func maybeGranted(failed, err error, key, holder string) error {
	var mh *client.MaybeHeldError
	if !errors.As(err, &mh) || mh.Lock == nil {
		return failed
	}
	l := mh.Lock
	return fmt.Errorf("%w. The server may have granted %q to this step just as it stopped: it is held under key %q by holder %q (fence %d). Unless another build holds it with that key and holder, the hold is this step's and stays: release it (%s)", failed, l.Name, key, holder, l.Fence, shellquote.Locker([]string{"unlock"}, []string{l.Name}, "--key", key, "--holder", holder))
}

func (r *runner) failed(ctx context.Context, err error, doing string) error {
	if ctx.Err() == nil {
		return r.explain(err)
	}
	state := ""
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Lock != nil {
		state = describe(ae.Lock)
	} else if r.name != "" {
		// Ask once more, briefly, to say who holds the lock.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if l, gerr := r.getLock(sctx, r.name); gerr == nil {
			state = describe(l)
		}
		cancel()
	}
	if state != "" {
		state = "; the lock is " + state
	}
	if errors.Is(context.Cause(ctx), errTimeout) {
		return fmt.Errorf("gave up %s after %s (source.timeout)%s%s", doing, r.src.Timeout, state, r.lastError(err))
	}
	return fmt.Errorf("stopped %s (%v)%s", doing, context.Cause(ctx), state)
}

// lastError is what a step that gave up adds about the error it last met:
// nothing when that was the lock (or pool) being busy, which the state it
// gives says better than the server's answer to the last short wait; the
// last wait a proxy cut short, when one was (and err is not one).
func (r *runner) lastError(err error) string {
	if r.cut != nil && !errors.As(err, new(*client.WaitCutError)) {
		// Its waits were cut short: that is why it never got its turn,
		// whatever ended the last request.
		return fmt.Sprintf("; its waits were cut short: %v", r.explain(r.cut))
	}
	if errors.Is(err, client.ErrLocked) {
		return ""
	}
	var (
		ce *client.ConnError
		ae *client.APIError
	)
	if (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && !errors.As(err, &ce) && !errors.As(err, &ae) {
		// Ended by the step's own end ("context deadline exceeded"):
		// the server had not answered.
		return "; its last request had no answer from the server yet"
	}
	return fmt.Sprintf("; last error: %v", r.explain(err))
}

// progress prints, while a lock is waited for, who holds it and how long
// the wait has lasted: when that changes (last is what was said before it
// started), and every minute regardless. It
// returns a function that stops it and waits until it has.
func (r *runner) progress(ctx context.Context, name, key string, start time.Time, last string) (stop func()) {
	return r.watchWait(ctx, last, func(ctx context.Context) (state, extra string) {
		l, err := r.getLock(ctx, name)
		if err != nil {
			return fmt.Sprintf("unknown (%v)", r.explain(err)), ""
		}
		if l.Waiters > 0 {
			extra = fmt.Sprintf(", %d request(s) waiting", l.Waiters)
		}
		return describe(l), extra
	}, func(state, extra string) {
		r.log.printf("waiting for lock %q (key %q): it is %s%s; waited %s so far", name, key, state, extra, round(time.Since(start)))
	})
}

// watchWait is the loop of progress and poolProgress: every RetryDelay
// (between 1s and 30s) it asks look for the state, and has say say it when
// it is not last, the state said before, or a minute has passed. It returns
// a function that stops it and waits until it has.
func (r *runner) watchWait(ctx context.Context, last string, look func(context.Context) (state, extra string), say func(state, extra string)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	every := min(max(r.src.RetryDelay, time.Second), 30*time.Second)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		lastAt := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			state, extra := look(ctx)
			if ctx.Err() != nil {
				return
			}
			if state == last && time.Since(lastAt) < time.Minute {
				continue
			}
			say(state, extra)
			last, lastAt = state, time.Now()
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
}

func fenceText(l *client.Lock) string {
	if l.Legacy {
		return ""
	}
	return fmt.Sprintf(", fence %d", l.Fence)
}
