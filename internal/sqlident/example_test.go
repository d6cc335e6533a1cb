package sqlident_test

import (
	"fmt"

	"github.com/convo-dev/convo/internal/sqlident"
)

func Example() {
	fmt.Println(sqlident.ValidatePrefix("chat_"))
	fmt.Println(sqlident.ValidatePrefix(`x"; DROP TABLE sessions; --`) != nil)
	fmt.Println(sqlident.Quote("chat_sessions"))
	// Output:
	// <nil>
	// true
	// "chat_sessions"
}
