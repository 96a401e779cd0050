package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// importRecord is one row of an import file, JSON lines or CSV alike.
type importRecord struct {
	Username      string  `json:"username"`
	Phone         string  `json:"phone"`
	PhoneVerified bool    `json:"phone_verified"`
	Password      *string `json:"password"`
	PasswordHash  *string `json:"password_hash"`
}

// importColumns are the names a CSV header may use, in any order.
var importColumns = []string{"username", "phone", "phone_verified", "password", "password_hash"}

type importRow struct {
	seq  int // the row's place among the rows sent, from 0
	line int
	rec  importRecord
	err  error // the row could not be read
}

type importResult struct {
	seq  int
	line int
	user store.ImportUser
	err  error // why the row is rejected
}

// importCounts are read by the progress display while the import runs.
type importCounts struct {
	read, created, existing, rejected atomic.Int64
	bytes                             atomic.Int64
}

func cmdUsersImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("users import", stderr)
	var sf settingFlags
	sf.register(fs)
	format := fs.String("format", "auto", "`jsonl`, csv, or auto: by the file's extension, else by its first character")
	batch := fs.Int("batch", 1000, "users written per multi-row INSERT, `N` from 1 to 5000")
	workers := fs.Int("hash-workers", runtime.NumCPU(), "rows checked and plain-text passwords hashed at once, `N`")
	progress := fs.String("progress", "auto", "`auto` (a bar on a terminal, a line every 5 s otherwise), bar, lines or off")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	var problems []string
	if *batch < 1 || *batch > store.MaxImportBatch {
		problems = append(problems, fmt.Sprintf("--batch must be 1 to %d", store.MaxImportBatch))
	}
	if *workers < 1 || *workers > 256 {
		problems = append(problems, "--hash-workers must be 1 to 256")
	}
	if !slices.Contains([]string{"auto", "jsonl", "csv"}, *format) {
		problems = append(problems, "--format must be auto, jsonl or csv")
	}
	if !slices.Contains([]string{"auto", "bar", "lines", "off"}, *progress) {
		problems = append(problems, "--progress must be auto, bar, lines or off")
	}
	if len(problems) > 0 {
		return usageError{"users import: " + strings.Join(problems, "; ")}
	}

	var (
		in   io.Reader = stdin
		size int64
	)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("users import: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in = f
	}
	var counts importCounts
	br := bufio.NewReaderSize(&countingReader{r: in, n: &counts.bytes}, 1<<20)
	if *format == "auto" {
		*format = detectFormat(file, br)
	}

	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	hasher := password.New(password.Params{Memory: cfg.Password.Memory, Time: cfg.Password.Time, Threads: cfg.Password.Threads}, *workers)
	phones := phonePolicy(cfg)

	out := &lockedWriter{w: stderr}
	mode := *progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(stderr) {
			mode = "bar"
		}
	}
	prog := startProgress(mode, out, &counts, size)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := make(chan importRow, 4*(*batch))
	results := make(chan importResult, 4*(*batch))
	readErr := make(chan error, 1)
	go func() {
		defer close(rows)
		readErr <- readImport(ctx, br, *format, rows)
	}()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for r := range rows {
				res := checkImportRow(ctx, r, hasher, phones)
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	start := time.Now()
	pending := make([]store.ImportUser, 0, *batch)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		created, err := st.ImportUsers(ctx, pending)
		if err != nil {
			return err
		}
		counts.created.Add(int64(len(created)))
		counts.existing.Add(int64(len(pending) - len(created)))
		pending = pending[:0]
		return nil
	}
	var writeErr error
	// The workers finish rows in any order; they are written in the file's,
	// so of two rows naming one user the first always wins.
	inOrder := make(chan importResult, cap(results))
	go func() {
		defer close(inOrder)
		waiting, next := map[int]importResult{}, 0
		for res := range results {
			waiting[res.seq] = res
			for r, ok := waiting[next]; ok; r, ok = waiting[next] {
				delete(waiting, next)
				next++
				inOrder <- r
			}
		}
	}()
	for res := range inOrder {
		counts.read.Add(1)
		if res.err != nil {
			counts.rejected.Add(1)
			out.printf(prog, "line %d: %v\n", res.line, res.err)
			continue
		}
		pending = append(pending, res.user)
		if len(pending) == *batch {
			if writeErr = flush(); writeErr != nil {
				cancel()
				break
			}
		}
	}
	if writeErr == nil {
		writeErr = flush()
	}
	cancel()
	for range inOrder {
		// Let the workers finish after a stop.
	}
	prog.stop()
	rerr := <-readErr
	took := time.Since(start)

	summary := map[string]any{
		"file": file, "format": *format, "rows": counts.read.Load(), "created": counts.created.Load(),
		"existing": counts.existing.Load(), "rejected": counts.rejected.Load(),
		"seconds": took.Round(time.Millisecond).Seconds(), "rows_per_second": int64(float64(counts.read.Load()) / max(took.Seconds(), 1e-3)),
	}
	detail := fmt.Sprintf("created %d, existing %d, rejected %d from %s", counts.created.Load(), counts.existing.Load(), counts.rejected.Load(), filepath.Base(file))
	st.Audit(context.WithoutCancel(ctx), store.AuditEvent{Event: "user.imported", Outcome: outcomeOf(writeErr, parent.Err()), Detail: detail})
	if err := printJSON(stdout, summary); err != nil {
		return err
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("users import: interrupted after %d users created (rerun the file: created users are skipped)", counts.created.Load())
	case writeErr != nil:
		return fmt.Errorf("users import: stopped after %d users created: %w (rerun the file: created users are skipped)", counts.created.Load(), writeErr)
	case rerr != nil && !errors.Is(rerr, context.Canceled):
		return fmt.Errorf("users import: %w (the rows before it were imported; rerun the file once fixed: created users are skipped)", rerr)
	case counts.rejected.Load() > 0:
		return fmt.Errorf("users import: %d rows rejected (listed above with their line numbers); the others were imported", counts.rejected.Load())
	}
	return nil
}

func outcomeOf(errs ...error) string {
	for _, err := range errs {
		if err != nil {
			return "failed"
		}
	}
	return "ok"
}

// parseWithFile parses flags around one positional argument, the file.
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", flagError(fs, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", usageError{fs.Name() + ": give the FILE to read, or - for standard input"}
	}
	file := rest[0]
	if err := parse(fs, rest[1:]); err != nil {
		return "", err
	}
	return file, nil
}

// detectFormat picks the format from the file name, else from the first
// character: JSON lines start with "{".
func detectFormat(name string, br *bufio.Reader) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson", ".json":
		return "jsonl"
	}
	head, _ := br.Peek(512)
	head = bytes.TrimPrefix(head, []byte("\ufeff"))
	if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '{' {
		return "jsonl"
	}
	return "csv"
}

// readImport sends each row of the file to rows. A row it cannot read is
// sent with its error; a file it cannot read at all (a CSV header that
// names no username) is its error.
func readImport(ctx context.Context, br *bufio.Reader, format string, rows chan<- importRow) error {
	seq := 0
	send := func(r importRow) bool {
		r.seq = seq
		seq++
		select {
		case rows <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// A byte-order mark (spreadsheet exports) is no part of the first row.
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	if format == "jsonl" {
		line := 0
		for {
			b, err := br.ReadBytes('\n')
			if len(b) > 0 {
				line++
				if t := bytes.TrimSpace(b); len(t) > 0 {
					var rec importRecord
					dec := json.NewDecoder(bytes.NewReader(t))
					dec.DisallowUnknownFields()
					r := importRow{line: line}
					if derr := dec.Decode(&rec); derr != nil {
						r.err = fmt.Errorf("not a JSON object of username, phone, phone_verified, password or password_hash: %v", derr)
					} else if dec.More() {
						r.err = errors.New("more than one JSON value on the line")
					}
					r.rec = rec
					if !send(r) {
						return ctx.Err()
					}
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read line %d: %w", line+1, err)
			}
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(importColumns, h) {
			return fmt.Errorf("CSV header: column %d is %q; the columns are %s", i+1, h, strings.Join(importColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return fmt.Errorf("CSV header: column %q twice", h)
		}
		col[h] = i
	}
	if _, ok := col["username"]; !ok {
		return fmt.Errorf("CSV header: no username column (the columns are %s)", strings.Join(importColumns, ", "))
	}
	get := func(rec []string, name string) (string, bool) {
		i, ok := col[name]
		if !ok {
			return "", false
		}
		return rec[i], true
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var r importRow
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return err
			}
			r.line = pe.StartLine
			r.err = fmt.Errorf("not a CSV row of %d columns: %v", len(header), pe.Err)
		} else {
			r.line, _ = cr.FieldPos(0)
			r.rec.Username, _ = get(rec, "username")
			r.rec.Phone, _ = get(rec, "phone")
			if v, ok := get(rec, "phone_verified"); ok {
				b, okb := parseBool(v)
				if !okb {
					r.err = fmt.Errorf("phone_verified %q is not true or false", v)
				}
				r.rec.PhoneVerified = b
			}
			// An empty cell is no value: a file may carry both columns.
			if v, ok := get(rec, "password"); ok && v != "" {
				r.rec.Password = &v
			}
			if v, ok := get(rec, "password_hash"); ok && v != "" {
				r.rec.PasswordHash = &v
			}
		}
		if !send(r) {
			return ctx.Err()
		}
	}
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no", "f", "n":
		return false, true
	case "true", "1", "yes", "t", "y":
		return true, true
	}
	return false, false
}

// checkImportRow applies the rules of users create to one row: a username
// with a normal form, one of password (it must pass the password policy;
// it is hashed here) or password_hash (bcrypt, argon2id or argon2i, kept
// as it is and replaced at the first sign-in), and a mobile number.
func checkImportRow(ctx context.Context, r importRow, hasher *password.Hasher, phones mfa.PhonePolicy) importResult {
	res := importResult{seq: r.seq, line: r.line}
	if r.err != nil {
		res.err = r.err
		return res
	}
	rec := r.rec
	name, err := store.NormalizeUsername(rec.Username)
	if err != nil {
		res.err = fmt.Errorf("username %q: %v", rec.Username, err)
		return res
	}
	res.user.Username = name
	switch {
	case rec.Password != nil && rec.PasswordHash != nil:
		res.err = errors.New("both password and password_hash: give one")
		return res
	case rec.Password == nil && rec.PasswordHash == nil:
		res.err = errors.New("no password or password_hash")
		return res
	case rec.PhoneVerified && rec.Phone == "":
		res.err = errors.New("phone_verified without a phone")
		return res
	}
	if rec.Phone != "" {
		n, err := phones.Normalise(rec.Phone)
		if err != nil {
			res.err = fmt.Errorf("phone %q: %v", rec.Phone, err)
			return res
		}
		res.user.Phone, res.user.PhoneVerified = n, rec.PhoneVerified
	}
	if rec.PasswordHash != nil {
		if err := password.Importable(*rec.PasswordHash); err != nil {
			res.err = fmt.Errorf("password_hash: %v", err)
			return res
		}
		res.user.PasswordHash = *rec.PasswordHash
		return res
	}
	if err := password.CheckNew(*rec.Password, name); err != nil {
		res.err = errors.New(passwordProblem(err))
		return res
	}
	if res.user.PasswordHash, err = hasher.Hash(ctx, *rec.Password); err != nil {
		res.err = err
	}
	return res
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// lockedWriter serialises the rejected rows and the progress display.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(p *progressDisplay, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.bar {
		io.WriteString(l.w, "\r\x1b[K") // the bar is redrawn by the next tick
	}
	fmt.Fprintf(l.w, format, args...)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressDisplay shows how far an import is: a bar redrawn in place on a
// terminal, or a plain line every few seconds for logs.
type progressDisplay struct {
	bar  bool
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(mode string, out *lockedWriter, c *importCounts, size int64) *progressDisplay {
	p := &progressDisplay{bar: mode == "bar", done: make(chan struct{})}
	if mode == "off" {
		return p
	}
	every := 5 * time.Second
	if p.bar {
		every = 200 * time.Millisecond
	}
	start := time.Now()
	draw := func(final bool) {
		el := time.Since(start).Seconds()
		read := c.read.Load()
		rate := float64(read) / max(el, 1e-3)
		counts := fmt.Sprintf("%d rows: %d created, %d existing, %d rejected, %.0f rows/s",
			read, c.created.Load(), c.existing.Load(), c.rejected.Load(), rate)
		out.mu.Lock()
		defer out.mu.Unlock()
		if !p.bar {
			fmt.Fprintf(out.w, "import: %s\n", counts)
			return
		}
		line := counts
		if size > 0 {
			frac := min(float64(c.bytes.Load())/float64(size), 1)
			const width = 30
			filled := int(frac * width)
			line = fmt.Sprintf("[%s%s] %3.0f%% %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, counts)
			if frac > 0 && !final {
				eta := time.Duration(el/frac*(1-frac)) * time.Second
				line += fmt.Sprintf(", %s left", eta.Round(time.Second))
			}
		}
		fmt.Fprintf(out.w, "\r\x1b[K%s", line)
		if final {
			io.WriteString(out.w, "\n")
		}
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	})
	return p
}

func (p *progressDisplay) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.wg.Wait()
}
