package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// target is a server the harness measures: the server under test (by URL,
// or a locker process the harness started) or the ceiling server.
type target struct {
	name string
	url  string
	ep   *endpoint
	proc *process // nil when the harness did not start it
	stop func()   // stops what the harness started
	held int      // locks this harness holds on it (prefilled)
	// taken is how many of the prefilled locks (0 to taken-1) the
	// harness may hold: held, or more when a prefill was cut short.
	taken int
}

// process is a server process the harness started: it can read its memory
// use and restart it.
type process struct {
	argv    []string
	env     []string
	dir     string // its temporary directory: LOCKER_CONFIG and the log
	logPath string
	cmd     *exec.Cmd
	url     string
	pprof   string // its pprof address, if it serves one
	exited  chan struct{}
}

var (
	listening = regexp.MustCompile(`listening on (https?://\S+)`)
	pprofAt   = regexp.MustCompile(`pprof at (http://\S+)`)
)

// startProcess starts argv with env (added to the harness's environment),
// LOCKER_LISTEN on a free loopback port and stderr into a log file in dir,
// and waits until it prints "listening on URL". It returns how long that
// took: the server's start-up time.
func startProcess(ctx context.Context, argv, env []string, dir string) (*process, time.Duration, error) {
	p := &process{argv: argv, env: env, dir: dir, logPath: filepath.Join(dir, "server.log")}
	took, err := p.start(ctx)
	return p, took, err
}

func (p *process) start(ctx context.Context) (time.Duration, error) {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), "LOCKER_LISTEN=127.0.0.1:0")
	cmd.Env = append(cmd.Env, p.env...)
	cmd.Stderr = logf
	dieWithHarness(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %v", p.argv[0], err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := pprofAt.FindStringSubmatch(sc.Text()); m != nil {
				p.pprof = m[1] // printed before the server listens
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	select {
	case u := <-found:
		p.url = u
		return time.Since(start), nil
	case <-p.exited:
		return 0, fmt.Errorf("%s exited before listening: %s (its log: %s)", p.argv[0], cmd.ProcessState, lastLines(p.logPath, 5))
	case <-time.After(2 * time.Minute):
		p.kill()
		return 0, fmt.Errorf("%s did not start listening within 2 minutes (its log: %s)", p.argv[0], p.logPath)
	case <-ctx.Done():
		p.kill()
		return 0, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the process to exit (killing it after
// a minute).
func (p *process) stop() error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.kill()
		return fmt.Errorf("%s did not stop within a minute of SIGTERM; killed", p.argv[0])
	}
	if !p.cmd.ProcessState.Success() {
		return fmt.Errorf("%s exited with %s (its log: %s)", p.argv[0], p.cmd.ProcessState, lastLines(p.logPath, 5))
	}
	return nil
}

func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// memory reads the process's resident set (VmRSS) and its peak (VmHWM),
// in MiB, from /proc.
func (p *process) memory() (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = round3(kb / 1024)
		case "VmHWM:":
			hwm = round3(kb / 1024)
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/<pid>/status")
	}
	return rss, hwm, nil
}

// cpu reads the process's CPU time so far (user + system) from /proc.
func (p *process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are
	// plain. utime and stime are fields 14 and 15, in clock ticks.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// switches reads how many times the process's threads have given up their
// CPU so far, voluntarily (to wait: a futex, epoll, an fsync) or not.
func (p *process) switches() (int64, error) { return procSwitches(p.pid()) }

// procSwitches sums voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// over the threads of process pid (/proc/PID/task/*/status). The switches
// of threads that have exited are not counted; Go's runtime rarely ends
// one.
func procSwitches(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, task := range tasks {
		b, err := os.ReadFile(dir + "/" + task.Name() + "/status")
		if err != nil {
			continue // the thread has exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, v, ok := strings.Cut(line, ":")
			if ok && (name == "voluntary_ctxt_switches" || name == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	if n == 0 {
		return 0, errors.New("no context switches in /proc/<pid>/task/*/status")
	}
	return n, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux that Go runs on.
const clockTicks = 100

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// StartCeiling starts the ceiling server in this process on addr
// (e.g. 127.0.0.1:0): Locker's HTTP API and lock service over an in-memory
// store that persists nothing. It returns the server's URL and a function
// that stops it.
func StartCeiling(addr string, auth httpapi.Credentials) (string, func(), error) {
	store := memstore.New(memstore.Options{})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cancel()
		return "", nil, err
	}
	srv := &http.Server{Handler: httpapi.New(svc, httpapi.Config{Auth: auth, Version: "ceiling"}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	stop := func() {
		svc.Close()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		srv.Shutdown(sctx)
		cancel()
		store.Close()
	}
	return "http://" + ln.Addr().String(), stop, nil
}
