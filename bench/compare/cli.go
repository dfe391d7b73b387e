package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leasehold/leasehold/bench/compare/internal/host"
)

// The cli scenario: hand-off between two `lockctl run` processes on the
// default backend (a fresh SQLite file per trial, found through
// XDG_STATE_HOME as a user's would be), beside the same hand-off between
// two flock(1) processes; and how long a `lockctl run` holder takes to
// notice that another process broke its lock.
//
// The commands stamp their own lines with bash's $EPOCHREALTIME, a
// variable read without forking anything: a `date` in each command, as
// bench/cli/handoff.sh uses, costs a fork and an exec (a millisecond or
// more on a loaded machine) inside the interval, which is as long as
// flock's whole hand-off. lockctl's own lines (break's report, the
// holder's "lost") are stamped by this program as they arrive on the pipes
// it reads, which adds the reader's wake-up (a few milliseconds on a
// loaded machine, either way) to those figures.

// cliResults is the cli scenario's report.
type cliResults struct {
	Machine host.Machine `json:"machine"`
	Trials  int          `json:"trials"`
	Settle  string       `json:"settle"`
	Flock   string       `json:"flock"`
	// LockctlHandoff and FlockHandoff: from the holder's command printing
	// its last line (then exiting) to the waiter's command printing its
	// first.
	LockctlHandoff latencies `json:"lockctlHandoff"`
	FlockHandoff   latencies `json:"flockHandoff"`
	// Lost*: from `lockctl break` printing what it broke (after its
	// commit) to the holder's lockctl printing that the lease is lost, to
	// its command's SIGTERM trap printing, and to the holder exiting with
	// the lost-lease code.
	LostNoticed   latencies `json:"lostNoticed"`
	LostSignalled latencies `json:"lostSignalled"`
	LostExited    latencies `json:"lostExited"`
	Notes         []string  `json:"notes"`
}

// latencies is one figure's trials, in milliseconds.
type latencies struct {
	P50     float64   `json:"p50Ms"`
	P99     float64   `json:"p99Ms"`
	Max     float64   `json:"maxMs"`
	Samples []float64 `json:"samplesMs"`
}

func newLatencies(ds []time.Duration) latencies {
	l := latencies{}
	for _, d := range ds {
		l.Samples = append(l.Samples, ms(d))
	}
	if len(ds) == 0 {
		return l
	}
	s := slices.Clone(l.Samples)
	slices.Sort(s)
	// Nearest rank, as the contended waits: with 50 trials p99 is the
	// largest.
	at := func(p float64) float64 { return s[min(len(s)-1, int(float64(len(s))*p))] }
	l.P50, l.P99, l.Max = at(0.50), at(0.99), s[len(s)-1]
	return l
}

// cliCommands are the shell commands of every trial.
const (
	// The holder's command says it runs, then ends when told to on stdin,
	// saying when.
	holderCommand = `echo held; read x; echo end $EPOCHREALTIME`
	// The waiter's command only says when it started.
	waiterCommand = `echo start $EPOCHREALTIME`
	// The holder of a lock about to be broken says it runs and waits; its
	// SIGTERM trap says when lockctl signalled it.
	brokenCommand = `trap 'echo term $EPOCHREALTIME; exit 0' TERM; echo held; sleep 600 & wait`
)

// trialTimeout bounds every step of a trial.
const trialTimeout = 30 * time.Second

func measureCLI(ctx context.Context, cfg config) (*cliResults, error) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		return nil, fmt.Errorf("the cli scenario compares with flock(1), which is not installed "+
			"(util-linux; make bench installs it when run as root): %w", err)
	}
	flockVersion := "flock(1)"
	if out, err := exec.CommandContext(ctx, flock, "--version").Output(); err == nil {
		flockVersion = strings.TrimSpace(string(out))
	}
	dir, err := os.MkdirTemp("", "leasehold-bench-cli-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lockctl := filepath.Join(dir, "lockctl")
	fmt.Println("== cli: building lockctl")
	build := exec.CommandContext(ctx, "go", "build", "-o", lockctl, "./cmd/lockctl")
	build.Dir = cfg.repo
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building lockctl: %w", err)
	}

	res := &cliResults{Machine: host.Describe(cfg.repo), Trials: cfg.cliTrials, Settle: cfg.cliSettle.String(), Flock: flockVersion}
	var lockctlTimes, flockTimes, noticed, signalled, exited []time.Duration
	for i := range cfg.cliTrials {
		trialDir := filepath.Join(dir, fmt.Sprint(i))
		state := filepath.Join(trialDir, "state")
		if err := os.MkdirAll(state, 0o755); err != nil {
			return nil, err
		}
		env := lockctlEnv(state)
		run := func(wait bool, command string) []string {
			args := []string{lockctl, "run", "handoff"}
			if wait {
				args = append(args, "--wait", "1m")
			}
			return append(args, "--", "bash", "-c", command)
		}
		d, err := handoffTrial(ctx, cfg, env, run(false, holderCommand), run(true, waiterCommand))
		if err != nil {
			return nil, fmt.Errorf("lockctl hand-off, trial %d: %w", i+1, err)
		}
		lockctlTimes = append(lockctlTimes, d)

		file := filepath.Join(trialDir, "flock")
		fl := func(command string) []string { return []string{flock, file, "bash", "-c", command} }
		d, err = handoffTrial(ctx, cfg, env, fl(holderCommand), fl(waiterCommand))
		if err != nil {
			return nil, fmt.Errorf("flock hand-off, trial %d: %w", i+1, err)
		}
		flockTimes = append(flockTimes, d)

		n, s, e, err := lostTrial(ctx, cfg, env, lockctl)
		if err != nil {
			return nil, fmt.Errorf("lost lease, trial %d: %w", i+1, err)
		}
		noticed, signalled, exited = append(noticed, n), append(signalled, s), append(exited, e)
		if (i+1)%10 == 0 || i+1 == cfg.cliTrials {
			fmt.Printf("   %d/%d trials\n", i+1, cfg.cliTrials)
		}
	}
	res.LockctlHandoff, res.FlockHandoff = newLatencies(lockctlTimes), newLatencies(flockTimes)
	res.LostNoticed, res.LostSignalled, res.LostExited = newLatencies(noticed), newLatencies(signalled), newLatencies(exited)
	res.Machine.Finish()
	res.Notes = []string{
		"lockctl is built once from the checkout (go build ./cmd/lockctl) and run with LEASEHOLD_BACKEND unset, so it " +
			"uses its default backend: the SQLite file $XDG_STATE_HOME/leasehold/locks.db, with XDG_STATE_HOME a fresh " +
			"folder per trial (a new database file).",
		fmt.Sprintf("Hand-off: the holder's command is `bash -c` running `%s`, the waiter's `%s`; lockctl as `lockctl "+
			"run handoff -- bash -c …` and `lockctl run handoff --wait 1m -- bash -c …` (default lease 30 s), flock as "+
			"`flock FILE bash -c …` (a fresh FILE per trial). The waiter starts once the holder's command printed `held`, "+
			"and is left %s to be waiting before the holder is told (on its stdin) to end. Hand-off = the waiter's `start` "+
			"time − the holder's `end` time, both read by the commands from bash's $EPOCHREALTIME (no process forked to "+
			"take them, unlike `date`). Both include bash's start-up in the waiter.", holderCommand, waiterCommand, cfg.cliSettle),
		fmt.Sprintf("Lost lease: the holder runs `lockctl run lost -- bash -c` with `%s`; %s after its command printed "+
			"`held`, `lockctl break lost --reason bench` runs from another process. From break's `broke lock` line (printed "+
			"after its commit) to the holder's stderr line `lockctl: lease on \"lost\" lost …` (noticed), to the command's "+
			"SIGTERM trap (signalled, its $EPOCHREALTIME), and to the holder's exit, which must be code 75 (exited: after "+
			"the command, lockctl waits for the rest of its process group, checking every 50 ms). Break's line, the lost "+
			"line and the exit are stamped by this program as they arrive, so each carries the wake-up of a reader: under "+
			"load a few ms either way (a sample can come out negative).", brokenCommand, cfg.cliSettle),
		"Percentiles are nearest-rank over the trials: with 50 trials p99 is the largest sample.",
	}
	return res, nil
}

// lockctlEnv is this process's environment without LEASEHOLD_* variables
// (so that lockctl uses its default backend), with XDG_STATE_HOME set.
func lockctlEnv(state string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LEASEHOLD_") || strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_STATE_HOME="+state)
}

// handoffTrial runs one hand-off: the holder until its command runs, then
// the waiter, then, after the settle time, tells the holder's command to
// end. It returns the time from the holder's `end` line to the waiter's
// `start` line.
func handoffTrial(ctx context.Context, cfg config, env, holderArgs, waiterArgs []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, trialTimeout)
	defer cancel()
	holder, err := startProc(env, true, holderArgs)
	if err != nil {
		return 0, err
	}
	defer holder.stop()
	if _, err := holder.stdout.waitFor(ctx, "held"); err != nil {
		return 0, holder.explain("holder", err)
	}
	waiter, err := startProc(env, false, waiterArgs)
	if err != nil {
		return 0, err
	}
	defer waiter.stop()
	if err := sleepCtx(ctx, cfg.cliSettle); err != nil {
		return 0, err
	}
	select {
	case <-waiter.exited:
		return 0, waiter.explain("waiter", errors.New("the waiter exited while the holder held the lock"))
	default:
	}
	if _, err := io.WriteString(holder.stdin, "\n"); err != nil {
		return 0, err
	}
	end, err := holder.stdout.stamp(ctx, "end")
	if err != nil {
		return 0, holder.explain("holder", err)
	}
	start, err := waiter.stdout.stamp(ctx, "start")
	if err != nil {
		return 0, waiter.explain("waiter", err)
	}
	for _, p := range []struct {
		name string
		p    *proc
	}{{"holder", holder}, {"waiter", waiter}} {
		code, _, err := p.p.wait(ctx)
		if err != nil {
			return 0, p.p.explain(p.name, err)
		}
		if code != 0 {
			return 0, p.p.explain(p.name, fmt.Errorf("exited %d", code))
		}
	}
	return start.Sub(end), nil
}

// lostTrial runs one broken lock: a `lockctl run` holder, and `lockctl
// break` from another process. It returns the times from break's report to
// the holder noticing, its command being signalled, and its exit.
func lostTrial(ctx context.Context, cfg config, env []string, lockctl string) (noticed, signalled, exited time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, trialTimeout)
	defer cancel()
	holder, err := startProc(env, false, []string{lockctl, "run", "lost", "--", "bash", "-c", brokenCommand})
	if err != nil {
		return 0, 0, 0, err
	}
	defer holder.stop()
	if _, err := holder.stdout.waitFor(ctx, "held"); err != nil {
		return 0, 0, 0, holder.explain("holder", err)
	}
	if err := sleepCtx(ctx, cfg.cliSettle); err != nil {
		return 0, 0, 0, err
	}
	breaker, err := startProc(env, false, []string{lockctl, "break", "lost", "--reason", "bench"})
	if err != nil {
		return 0, 0, 0, err
	}
	defer breaker.stop()
	broke, err := breaker.stdout.waitFor(ctx, "broke lock")
	if err != nil {
		return 0, 0, 0, breaker.explain("break", err)
	}
	lost, err := holder.stderr.waitFor(ctx, "lost")
	if err != nil {
		return 0, 0, 0, holder.explain("holder", err)
	}
	term, err := holder.stdout.stamp(ctx, "term")
	if err != nil {
		return 0, 0, 0, holder.explain("holder", err)
	}
	code, at, err := holder.wait(ctx)
	if err != nil {
		return 0, 0, 0, holder.explain("holder", err)
	}
	if code != 75 {
		return 0, 0, 0, holder.explain("holder", fmt.Errorf("exited %d, not the lost-lease code 75", code))
	}
	if code, _, err := breaker.wait(ctx); err != nil || code != 0 {
		return 0, 0, 0, breaker.explain("break", fmt.Errorf("exited %d: %v", code, err)) //nolint:errorlint // err is nil on a bad exit code
	}
	// term is wall-clock time from the command; compare it with broke's
	// wall-clock reading.
	return lost.Sub(broke), term.Sub(broke.Round(0)), at.Sub(broke), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// proc is a child process whose stdout and stderr lines are stamped as
// they arrive.
type proc struct {
	cmd            *exec.Cmd
	stdin          *os.File // the write end of its stdin, or nil
	stdout, stderr *lines
	exited         chan struct{} // closed when it has exited
	code           int
	exitedAt       time.Time
}

// startProc starts args with env; with stdin, its stdin is a pipe this
// program writes to (else /dev/null).
func startProc(env []string, stdin bool, args []string) (*proc, error) {
	p := &proc{cmd: exec.Command(args[0], args[1:]...), stdout: newLines(), stderr: newLines(), exited: make(chan struct{})}
	p.cmd.Env = env
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var inR *os.File
	if stdin {
		if inR, p.stdin, err = os.Pipe(); err != nil {
			return nil, err
		}
		p.cmd.Stdin = inR
	}
	// *os.File outputs are handed to the child as they are, so its own
	// children (the command) write straight into these pipes.
	p.cmd.Stdout, p.cmd.Stderr = outW, errW
	err = p.cmd.Start()
	for _, f := range []*os.File{outW, errW, inR} {
		if f != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		_ = outR.Close()
		_ = errR.Close()
		if p.stdin != nil {
			_ = p.stdin.Close()
		}
		return nil, fmt.Errorf("starting %s: %w", strings.Join(args, " "), err)
	}
	go p.stdout.read(outR)
	go p.stderr.read(errR)
	go func() {
		_ = p.cmd.Wait()
		p.exitedAt = time.Now()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	return p, nil
}

// wait returns the exit code and when the process exited.
func (p *proc) wait(ctx context.Context) (int, time.Time, error) {
	select {
	case <-ctx.Done():
		return 0, time.Time{}, fmt.Errorf("waiting for exit: %w", ctx.Err())
	case <-p.exited:
		return p.code, p.exitedAt, nil
	}
}

// stop kills the process if it still runs and waits for it; its command,
// in a process group of its own, ends when its pipes close or its lease
// does.
func (p *proc) stop() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// explain adds what the process printed to err.
func (p *proc) explain(name string, err error) error {
	return fmt.Errorf("%s (%s): %w; stdout %q, stderr %q", name, strings.Join(p.cmd.Args, " "), err, p.stdout.text(), p.stderr.text())
}

// lines collects a pipe's lines, each stamped with its arrival.
type lines struct {
	mu      sync.Mutex
	got     []stamped
	eof     bool
	changed chan struct{} // closed and replaced at each new line and at EOF
}

type stamped struct {
	text string
	at   time.Time
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) read(r *os.File) {
	defer func() { _ = r.Close() }()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		at := time.Now()
		l.mu.Lock()
		l.got = append(l.got, stamped{sc.Text(), at})
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.eof = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// waitFor returns the arrival of the first line containing s.
func (l *lines) waitFor(ctx context.Context, s string) (time.Time, error) {
	for {
		l.mu.Lock()
		for _, g := range l.got {
			if strings.Contains(g.text, s) {
				l.mu.Unlock()
				return g.at, nil
			}
		}
		eof, changed := l.eof, l.changed
		l.mu.Unlock()
		if eof {
			return time.Time{}, fmt.Errorf("no line with %q before the output ended", s)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no line with %q: %w", s, ctx.Err())
		case <-changed:
		}
	}
}

// stamp waits for the line "WORD SECONDS.MICROSECONDS" that a command
// printed with $EPOCHREALTIME and returns that time.
func (l *lines) stamp(ctx context.Context, word string) (time.Time, error) {
	if _, err := l.waitFor(ctx, word+" "); err != nil {
		return time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.got {
		if v, ok := strings.CutPrefix(g.text, word+" "); ok {
			return parseEpoch(v)
		}
	}
	return time.Time{}, fmt.Errorf("no line starting %q", word+" ")
}

// parseEpoch parses $EPOCHREALTIME: seconds, the locale's decimal
// separator, microseconds.
func parseEpoch(v string) (time.Time, error) {
	sec, frac, ok := strings.Cut(strings.ReplaceAll(v, ",", "."), ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 6 || err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("%q is not $EPOCHREALTIME (seconds.microseconds)", v)
	}
	return time.Unix(s, us*1000), nil
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, g := range l.got {
		b.WriteString(g.text + "\n")
	}
	return b.String()
}

// ratio is lockctl's figure over flock's.
func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1fx", a/b)
}

func (c *cliResults) summary() string {
	return fmt.Sprintf("hand-off p50/p99/max: lockctl %s/%s/%s ms, flock %s/%s/%s ms (p50 ratio %s); lost lease noticed p50/p99 %s/%s ms",
		num(c.LockctlHandoff.P50), num(c.LockctlHandoff.P99), num(c.LockctlHandoff.Max),
		num(c.FlockHandoff.P50), num(c.FlockHandoff.P99), num(c.FlockHandoff.Max),
		ratio(c.LockctlHandoff.P50, c.FlockHandoff.P50), num(c.LostNoticed.P50), num(c.LostNoticed.P99))
}

// markdown writes the scenario's section of results.md.
func (c *cliResults) markdown(b *strings.Builder) {
	m := c.Machine
	b.WriteString(cliHeading + "\n\n")
	fmt.Fprintf(b, "Measured %s at commit %s (%d CPUs, %s; load average %s at start, %s at end; took %s), %d trials each; %s.\n\n",
		m.Date, m.Commit, m.CPUs, m.GoVersion, m.LoadAtStart, m.LoadAtEnd, m.Elapsed, c.Trials, c.Flock)
	b.WriteString("| Figure (ms) | p50 | p99 | max |\n|---|---|---|---|\n")
	row := func(name string, l latencies) {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, num(l.P50), num(l.P99), num(l.Max))
	}
	row("hand-off, `lockctl run` (default SQLite file)", c.LockctlHandoff)
	row("hand-off, `flock FILE`", c.FlockHandoff)
	fmt.Fprintf(b, "| ratio lockctl ÷ flock | %s | %s | %s |\n",
		ratio(c.LockctlHandoff.P50, c.FlockHandoff.P50), ratio(c.LockctlHandoff.P99, c.FlockHandoff.P99),
		ratio(c.LockctlHandoff.Max, c.FlockHandoff.Max))
	row("lock broken by `lockctl break` → holder's lockctl says lost", c.LostNoticed)
	row("… → holder's command gets SIGTERM", c.LostSignalled)
	row("… → holder exits 75", c.LostExited)
	b.WriteString("\n")
	for _, n := range c.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	b.WriteString("\n")
}

// cliHeading starts the scenario's section of results.md.
const cliHeading = "## Hand-off between processes: lockctl run on SQLite beside flock(1)"

// writeCLIOnly writes the results of a run of the cli scenario alone into
// dir, keeping the other figures of the run already there: results.md gets
// its hand-off section replaced (the rest of the file is left as that run
// wrote it, not rendered again by this version of the program), and
// results.json, where the run left one (it is not committed), its cli
// field. Without an earlier results.md, res is written with the cli
// section alone.
func writeCLIOnly(dir string, res *results, cli *cliResults) error {
	jsPath, mdPath := filepath.Join(dir, "results.json"), filepath.Join(dir, "results.md")
	md, err := os.ReadFile(mdPath)
	if errors.Is(err, fs.ErrNotExist) {
		res.CLI = cli
		res.finish()
		return res.writeFiles(dir, false)
	}
	if err != nil {
		return fmt.Errorf("reading %s to keep its other figures: %w", mdPath, err)
	}
	var section strings.Builder
	cli.markdown(&section)
	out := spliceSection(string(md), section.String())
	if err := os.WriteFile(mdPath, []byte(out), 0o644); err != nil {
		return err
	}
	js, err := os.ReadFile(jsPath)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("updated the hand-off section of %s (no results.json to update)\n\n%s", mdPath, section.String())
		return nil
	}
	if err != nil {
		return err
	}
	var prev results
	if err := json.Unmarshal(js, &prev); err != nil {
		return fmt.Errorf("reading %s to keep its other figures: %w", jsPath, err)
	}
	prev.CLI = cli
	if js, err = json.MarshalIndent(prev, "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(jsPath, append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("updated the hand-off section of %s and results.json\n\n%s", mdPath, section.String())
	return nil
}

// spliceSection puts section in place of md's hand-off section, which runs
// from its heading to the next heading or the line on the manager's memory
// that results.md has before its settings; without one, it goes before
// that line (or before the settings, or at the end).
func spliceSection(md, section string) string {
	ls := strings.SplitAfter(md, "\n")
	isEnd := func(l string) bool {
		return strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "The manager's memory")
	}
	start, end := -1, len(ls)
	for i, l := range ls {
		if strings.HasPrefix(l, cliHeading) {
			start = i
			continue
		}
		if start >= 0 && isEnd(l) {
			end = i
			break
		}
	}
	if start < 0 {
		for i, l := range ls {
			if strings.HasPrefix(l, "The manager's memory") || strings.HasPrefix(l, "## Settings") {
				start, end = i, i
				break
			}
		}
	}
	if start < 0 {
		return md + "\n" + section
	}
	return strings.Join(ls[:start], "") + section + strings.Join(ls[end:], "")
}
