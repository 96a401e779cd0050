package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/smspin/idp/migrations/database"
)

// Probe watches every statement a database connection runs: it counts
// durable commits (a transaction that wrote, or a write outside one) and
// the statements matching a pattern, and it can make the database fail at
// a chosen statement, as a connection lost mid-step would.
type Probe struct {
	mu      sync.Mutex
	commits int
	stmts   int
	matches map[string]int
	watch   map[string]*regexp.Regexp
	failAt  int // fail the failAt-th statement or commit from now (0: never)
	seen    int
	log     []string
}

// Instrument returns db opened again through a probe: the same database
// (and schema), every statement seen. Watch patterns name statements to
// count (e.g. `(?i)from "?clients"?`).
func Instrument(t testing.TB, db *DB, watch map[string]string) (*DB, *Probe) {
	t.Helper()
	p := &Probe{matches: map[string]int{}, watch: map[string]*regexp.Regexp{}}
	for name, re := range watch {
		p.watch[name] = regexp.MustCompile(re)
	}
	cfg := &gorm.Config{TranslateError: true, SkipDefaultTransaction: true, Logger: logger.Discard, NowFunc: db.Gorm.Config.NowFunc}
	var g *gorm.DB
	var err error
	switch db.Dialect {
	case "postgres":
		sqlDB := sql.OpenDB(&connector{p: p, drv: stdlib.GetDefaultDriver(), dsn: db.URL})
		g, err = gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), cfg)
	default:
		raw, oerr := sql.Open("sqlite", database.SQLiteDSN(strings.TrimPrefix(db.URL, "sqlite:")))
		if oerr != nil {
			t.Fatal(oerr)
		}
		drv := raw.Driver()
		raw.Close()
		sqlDB := sql.OpenDB(&connector{p: p, drv: drv, dsn: database.SQLiteDSN(strings.TrimPrefix(db.URL, "sqlite:"))})
		g, err = gorm.Open(sqlite.Dialector{Conn: sqlDB}, cfg)
	}
	if err != nil {
		t.Fatalf("dbtest: instrument: %v", err)
	}
	sqlDB, _ := g.DB()
	sqlDB.SetMaxOpenConns(10)
	t.Cleanup(func() { sqlDB.Close() })
	return &DB{Dialect: db.Dialect, URL: db.URL, Gorm: g}, p
}

// Snapshot is what a probe has counted.
type Snapshot struct {
	Commits    int
	Statements int
	Matches    map[string]int
}

// Sub is what was counted between two snapshots.
func (s Snapshot) Sub(before Snapshot) Snapshot {
	out := Snapshot{Commits: s.Commits - before.Commits, Statements: s.Statements - before.Statements, Matches: map[string]int{}}
	for k, v := range s.Matches {
		out.Matches[k] = v - before.Matches[k]
	}
	return out
}

// Snapshot returns the counts so far.
func (p *Probe) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.matches))
	for k, v := range p.matches {
		m[k] = v
	}
	return Snapshot{Commits: p.commits, Statements: p.stmts, Matches: m}
}

// Log returns the statements seen since the last call, and forgets them.
func (p *Probe) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.log
	p.log = nil
	return out
}

// FailAt makes the n-th statement or commit from now fail as a lost
// connection does (0 turns failing off).
func (p *Probe) FailAt(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failAt, p.seen = n, 0
}

// ErrInjected is the error a failing statement returns: a connection reset.
var ErrInjected = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// event records a statement (or a commit, query == "COMMIT") and says
// whether it must fail.
func (p *Probe) event(query string, inTx bool, tx *probeTx) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failAt > 0 {
		p.seen++
		if p.seen == p.failAt {
			p.failAt = 0
			return ErrInjected
		}
	}
	if query == "COMMIT" {
		if tx.wrote {
			p.commits++
		}
		p.log = append(p.log, "COMMIT")
		return nil
	}
	p.stmts++
	p.log = append(p.log, query)
	if isWrite(query) {
		if inTx {
			tx.wrote = true
		} else {
			p.commits++
		}
	}
	for name, re := range p.watch {
		if re.MatchString(query) {
			p.matches[name]++
		}
	}
	return nil
}

func isWrite(q string) bool {
	q = strings.ToUpper(strings.TrimSpace(q))
	for _, w := range []string{"INSERT", "UPDATE", "DELETE"} {
		if strings.HasPrefix(q, w) {
			return true
		}
	}
	return false
}

type connector struct {
	p   *Probe
	drv driver.Driver
	dsn string
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &probeConn{Conn: conn, p: c.p}, nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

type probeConn struct {
	driver.Conn
	p  *Probe
	tx *probeTx
}

type probeTx struct {
	driver.Tx
	c     *probeConn
	wrote bool
}

func (t *probeTx) Commit() error {
	t.c.tx = nil
	if err := t.c.p.event("COMMIT", true, t); err != nil {
		t.Tx.Rollback() // the commit never reached the database
		return err
	}
	return t.Tx.Commit()
}

func (t *probeTx) Rollback() error {
	t.c.tx = nil
	return t.Tx.Rollback()
}

func (c *probeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var tx driver.Tx
	var err error
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = c.Conn.Begin() //nolint:staticcheck // the driver has nothing else
	}
	if err != nil {
		return nil, err
	}
	c.tx = &probeTx{Tx: tx, c: c}
	return c.tx, nil
}

func (c *probeConn) check(query string) error { return c.p.event(query, c.tx != nil, c.tx) }

func (c *probeConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.check(query); err != nil {
		return nil, err
	}
	return e.ExecContext(ctx, query, args)
}

func (c *probeConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.check(query); err != nil {
		return nil, err
	}
	return q.QueryContext(ctx, query, args)
}

func (c *probeConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &probeStmt{Stmt: st, c: c, query: query}, nil
}

func (c *probeConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *probeConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *probeConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *probeConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type probeStmt struct {
	driver.Stmt
	c     *probeConn
	query string
}

func (s *probeStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.check(s.query); err != nil {
		return nil, err
	}
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // the driver has nothing else
}

func (s *probeStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.check(s.query); err != nil {
		return nil, err
	}
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // the driver has nothing else
}

func (s *probeStmt) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return s.c.CheckNamedValue(v)
}
