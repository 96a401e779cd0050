package recovery_test

import (
	"fmt"

	"github.com/smspin/idp/idp/recovery"
)

func ExampleParse() {
	c, ok := recovery.Parse("ＡＢＣＤ ＥＦＧＨ ｊｋｍｎ ｐｑｒｓ")
	fmt.Println(c.ID, c.Secret, ok)
	// Output: abcd efghjkmnpqrs true
}
