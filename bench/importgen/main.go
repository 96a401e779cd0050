// Command importgen makes a users file for `idp users import`, and times
// the password step's database lookup on the users a database holds. It is
// a benchmark tool, run by hand (bench/import.sh); no test depends on it.
//
//	go run ./bench/importgen -n 1000000 > users.jsonl        # JSON lines
//	go run ./bench/importgen -n 1000000 -csv > users.csv
//	go run ./bench/importgen -lookup -db postgres://... -n 1000000 -count 20000
//
// The users are bench/loginload's (load0000, load0001, ... with its password
// and phones), so loginload can sign them in after the import. Every row
// carries the same argon2id hash of that password, made once with the
// production parameters: the import's cost does not depend on the hashes
// being distinct, and making a million would take hours.
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database"
)

// The users of bench/loginload.
const userPassword = "load-test correct horse battery"

func username(i int) string { return fmt.Sprintf("load%04d", i) }
func phone(i int) string    { return fmt.Sprintf("+8190%08d", 10000000+i) }

func main() {
	var (
		n       = flag.Int("n", 1000000, "users to write, or users the database holds (-lookup)")
		asCSV   = flag.Bool("csv", false, "write CSV with a header row instead of JSON lines")
		memory  = flag.Uint("argon2-memory", 19456, "argon2id memory in KiB of the hash written")
		passes  = flag.Uint("argon2-time", 2, "argon2id passes of the hash written")
		lookup  = flag.Bool("lookup", false, "time UserByUsername on random users of -db instead")
		dbURL   = flag.String("db", "", "database URL (with -lookup)")
		count   = flag.Int("count", 20000, "lookups to time (with -lookup)")
		workers = flag.Int("concurrency", 4, "lookups in flight at once (with -lookup)")
	)
	flag.Parse()
	var err error
	if *lookup {
		err = timeLookups(context.Background(), *dbURL, *n, *count, *workers)
	} else {
		err = generate(*n, *asCSV, password.Params{Memory: uint32(*memory), Time: uint32(*passes), Threads: 1})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "importgen:", err)
		os.Exit(1)
	}
}

func generate(n int, asCSV bool, p password.Params) error {
	hash, err := password.New(p, 1).Hash(context.Background(), userPassword)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	if asCSV {
		cw := csv.NewWriter(w)
		cw.Write([]string{"username", "phone", "phone_verified", "password_hash"})
		for i := range n {
			cw.Write([]string{username(i), phone(i), "true", hash})
		}
		cw.Flush()
		return cw.Error()
	}
	enc := json.NewEncoder(w)
	for i := range n {
		err := enc.Encode(map[string]any{"username": username(i), "phone": phone(i), "phone_verified": true, "password_hash": hash})
		if err != nil {
			return err
		}
	}
	return nil
}

// timeLookups runs count lookups of random existing users, as the password
// step does, and prints their latency.
func timeLookups(ctx context.Context, dbURL string, n, count, workers int) error {
	db, err := database.Open(ctx, dbURL, database.Options{MaxOpenConns: workers})
	if err != nil {
		return err
	}
	st := store.New(db, nil)
	var total int64
	db.Raw("SELECT COUNT(*) FROM users").Scan(&total)
	// Warm the pool and the cache a little, as a running server has.
	for range min(1000, n) {
		st.UserByUsername(ctx, username(rand.IntN(n)))
	}
	lat := make([]time.Duration, count)
	var wg sync.WaitGroup
	next := make(chan int, count)
	for i := range count {
		next <- i
	}
	close(next)
	var failed sync.Map
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				if _, err := st.UserByUsername(ctx, username(rand.IntN(n))); err != nil {
					failed.Store(i, err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) string { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond).String() }
	nf := 0
	failed.Range(func(any, any) bool { nf++; return true })
	fmt.Printf("users in the database: %s; %d lookups of random users, %d at once: %.0f/s, p50 %s p90 %s p99 %s max %s; %d failed\n",
		strconv.FormatInt(total, 10), count, workers, float64(count)/took.Seconds(), q(0.5), q(0.9), q(0.99), q(1), nf)
	return nil
}
