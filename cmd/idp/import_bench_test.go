package main

import (
	"fmt"
	"testing"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/mfa"
)

// BenchmarkImportRowCheck is the CPU an imported row with a hash costs
// before the database: username, phone and hash checks.
func BenchmarkImportRowCheck(b *testing.B) {
	hash, _ := password.New(password.OWASP, 1).Hash(b.Context(), "load-test correct horse battery")
	hasher := password.New(password.OWASP, 1)
	phones := mfa.PhonePolicy{DefaultRegion: "JP"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r := importRow{line: i, rec: importRecord{Username: fmt.Sprintf("load%04d", i), Phone: fmt.Sprintf("+8190%08d", 10000000+i), PhoneVerified: true, PasswordHash: &hash}}
		if res := checkImportRow(b.Context(), r, hasher, phones); res.err != nil {
			b.Fatal(res.err)
		}
	}
}
