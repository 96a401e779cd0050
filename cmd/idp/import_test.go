package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database"
)

// openCLIStore opens the database a cli writes to.
func openCLIStore(t *testing.T, c *cli) *store.Store {
	t.Helper()
	db, err := database.Open(t.Context(), c.db, database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeDB(db) })
	return store.New(db, nil)
}

func writeImportFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rejected reads the "line N: reason" lines of an import's stderr.
func rejected(stderr string) map[int]string {
	out := map[int]string{}
	re := regexp.MustCompile(`(?m)^(?:\r\x1b\[K)?line (\d+): (.*)$`)
	for _, m := range re.FindAllStringSubmatch(stderr, -1) {
		var n int
		fmt.Sscan(m[1], &n)
		out[n] = m[2]
	}
	return out
}

func TestUsersImportJSONLines(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "taken", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("bcrypt secret"), bcrypt.MinCost)
	salt := []byte("saltsaltsalt")
	a2i := "$argon2i$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.Key([]byte("argon2i secret"), salt, 1, 64, 1, 32))
	fast := password.New(password.Params{Memory: 64, Time: 1, Threads: 1}, 1)
	a2id, _ := fast.Hash(t.Context(), "argon2id secret")

	lines := []string{
		/* 1 */ `{"username": "Alice", "phone": "+819012345678", "phone_verified": true, "password": "correct horse battery"}`,
		/* 2 */ fmt.Sprintf(`{"username": "bob", "phone": "090-1234-5679", "password_hash": %q}`, bc),
		/* 3 */ fmt.Sprintf(`{"username": "carol", "password_hash": %q}`, a2i),
		/* 4 */ fmt.Sprintf(`{"username": "dave", "password_hash": %q}`, a2id),
		/* 5 */ ``,
		/* 6 */ `{"username": "carol2", "password": "carol2-carol2"}`,
		/* 7 */ `{"username": "eve smith", "password": "correct horse battery"}`,
		/* 8 */ `{"username": "frank", "password": "x", "password_hash": "y"}`,
		/* 9 */ `{"username": "grace"}`,
		/* 10 */ `{"username": "heidi", "phone": "03-1234-5678", "password": "correct horse battery"}`,
		/* 11 */ `{"username": "ivan", "password_hash": "not a hash"}`,
		/* 12 */ `not json`,
		/* 13 */ `{"username": "judy", "password": "correct horse battery", "admin": true}`,
		/* 14 */ `{"username": "mallory", "phone_verified": true, "password": "correct horse battery"}`,
		/* 15 */ `{"username": "TAKEN", "password": "correct horse battery"}`,
		/* 16 */ fmt.Sprintf(`{"username": "ＡＬＩＣＥ", "password_hash": %q}`, a2id), // ready long before line 1's hash: still second

		/* 17 */ `{"username": "oscar", "password": "password"}`,
	}
	path := writeImportFile(t, "users.jsonl", strings.Join(lines, "\n")+"\n")
	out, errOut, err := c.run("", "users", "import", "--batch", "3", "--progress", "lines", path)
	if err == nil || !strings.Contains(err.Error(), "10 rows rejected") {
		t.Fatalf("import: %v, want 10 rows rejected\n%s", err, errOut)
	}
	sum := decode(t, out)
	for k, want := range map[string]float64{"rows": 16, "created": 4, "existing": 2, "rejected": 10} {
		if sum[k] != want {
			t.Errorf("summary %s = %v, want %v (%v)", k, sum[k], want, sum)
		}
	}
	if sum["format"] != "jsonl" {
		t.Errorf("format = %v", sum["format"])
	}
	rej := rejected(errOut)
	for line, want := range map[int]string{
		6: "too close to the username", 7: "space", 8: "both password and password_hash", 9: "no password",
		10: "phone", 11: "password_hash", 12: "not a JSON object", 13: `unknown field "admin"`,
		14: "phone_verified without a phone", 17: "most common",
	} {
		if !strings.Contains(rej[line], want) {
			t.Errorf("line %d: reported %q, want a reason mentioning %q", line, rej[line], want)
		}
	}
	if len(rej) != 10 {
		t.Errorf("%d rows reported rejected, want 10:\n%s", len(rej), errOut)
	}
	for _, line := range []int{1, 2, 3, 4, 15, 16} {
		if r, ok := rej[line]; ok {
			t.Errorf("line %d was rejected: %s", line, r)
		}
	}
	if !strings.Contains(errOut, "import: 16 rows: 4 created, 2 existing, 10 rejected") {
		t.Errorf("no closing progress line:\n%s", errOut)
	}

	st := openCLIStore(t, c)
	ctx := t.Context()
	h := password.New(password.Params{Memory: 8192, Time: 1, Threads: 1}, 1)
	for name, pw := range map[string]string{"alice": "correct horse battery", "bob": "bcrypt secret", "carol": "argon2i secret", "dave": "argon2id secret"} {
		u, err := st.UserByUsername(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := h.Verify(ctx, u.PasswordHash, pw); err != nil {
			t.Errorf("%s: the imported password does not verify: %v", name, err)
		}
	}
	alice, _ := st.UserByUsername(ctx, "alice")
	if p, _ := st.PhoneOf(ctx, alice.ID); p == nil || p.Number != "+819012345678" || !p.Verified() {
		t.Errorf("alice's phone = %+v, want +819012345678 verified", p)
	}
	bob, _ := st.UserByUsername(ctx, "bob")
	if p, _ := st.PhoneOf(ctx, bob.ID); p == nil || p.Number != "+819012345679" || p.Verified() {
		t.Errorf("bob's phone = %+v, want +819012345679 (from national form) unverified", p)
	}
	taken, _ := st.UserByUsername(ctx, "taken")

	// The same file again changes nothing.
	out, _, _ = c.run("", "users", "import", "--progress", "off", path)
	sum = decode(t, out)
	if sum["created"] != float64(0) || sum["existing"] != float64(6) {
		t.Errorf("rerun: %v, want nothing created, 6 existing", sum)
	}
	for _, u := range []*store.User{alice, bob, taken} {
		again, _ := st.UserByUsername(ctx, u.Username)
		if again.ID != u.ID || again.PasswordHash != u.PasswordHash || !again.UpdatedAt.Equal(u.UpdatedAt) {
			t.Errorf("rerun changed %s: %+v, was %+v", u.Username, again, u)
		}
	}
	events, _ := st.AuditEvents(ctx, store.AuditFilter{Event: "user.imported"})
	if len(events) != 2 || !strings.Contains(events[1].Detail, "created 4, existing 2, rejected 10") {
		t.Errorf("audit events of the imports: %+v", events)
	}
}

func TestUsersImportCSV(t *testing.T) {
	c := newCLI(t)
	bc, _ := bcrypt.GenerateFromPassword([]byte("bcrypt secret"), bcrypt.MinCost)
	// A spreadsheet's export: a byte-order mark, columns in its own order,
	// both password columns with one cell filled, a quoted cell.
	csvText := "\ufeffpassword_hash,Username,phone_verified,phone,password\n" +
		string(bc) + ",kenji,TRUE,+819012345678,\n" +
		",\"山田\",false,,a long enough password\n" +
		",yuki,maybe,+819012345670,a long enough password\n" +
		",short,,,\n" +
		",too,many,columns,here,x\n"
	out, errOut, err := c.run(csvText, "users", "import", "--progress", "off", "-")
	if err == nil || !strings.Contains(err.Error(), "3 rows rejected") {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	sum := decode(t, out)
	if sum["format"] != "csv" || sum["created"] != float64(2) || sum["rejected"] != float64(3) {
		t.Errorf("summary %v", sum)
	}
	rej := rejected(errOut)
	for line, want := range map[int]string{4: "phone_verified", 5: "no password", 6: "CSV row"} {
		if !strings.Contains(rej[line], want) {
			t.Errorf("line %d: reported %q, want a reason mentioning %q", line, rej[line], want)
		}
	}
	st := openCLIStore(t, c)
	if u, err := st.UserByUsername(t.Context(), "山田"); err != nil || u == nil {
		t.Errorf("山田 was not imported: %v", err)
	}

	for _, tc := range []struct{ text, want string }{
		{"user,password\nx,y\n", `column 1 is "user"`},
		{"phone,password\n+819012345678,y\n", "no username column"},
	} {
		_, _, err := c.run(tc.text, "users", "import", "--format", "csv", "--progress", "off", "-")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("header %q: %v, want %q", strings.SplitN(tc.text, "\n", 2)[0], err, tc.want)
		}
	}
	for _, args := range [][]string{{"users", "import"}, {"users", "import", "--batch", "0", "x"}, {"users", "import", "--progress", "loud", "x"}} {
		var ue usageError
		if _, _, err := c.run("", args...); !errors.As(err, &ue) {
			t.Errorf("idp %v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := c.run("", "users", "import", filepath.Join(t.TempDir(), "missing.jsonl")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: %v", err)
	}
}

// On a terminal the progress is a bar redrawn in place; rejected rows
// are printed above it.
func TestUsersImportProgressBar(t *testing.T) {
	c := newCLI(t)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"username": "user%d", "password": "a long enough password %d"}`+"\n", i, i)
	}
	b.WriteString(`{"username": "bad name", "password": "a long enough password"}` + "\n")
	path := writeImportFile(t, "users.jsonl", b.String())
	_, errOut, _ := c.run("", "users", "import", "--progress", "bar", "--batch", "7", path)
	if !strings.Contains(errOut, "\r\x1b[K[##############################] 100% 51 rows: 50 created, 0 existing, 1 rejected") {
		t.Errorf("no finished bar:\n%q", errOut)
	}
	if !strings.Contains(errOut, "line 51: username") {
		t.Errorf("the rejected row was not shown:\n%q", errOut)
	}
}
