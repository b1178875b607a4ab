package helpdesk_test

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentCreates opens tickets for new requesters at the same time:
// pairs share an e-mail address and the pairs differ. On MariaDB a locked
// read of a missing customer used to lock the gap where it would go, and
// the inserts that followed deadlocked (500). Every create must succeed,
// and each address must make one customer.
func TestConcurrentCreates(t *testing.T) {
	f := newFixture(t)
	for round := range 3 {
		before := f.count(t, "helpdesk_customers")
		const pairs = 6
		var wg sync.WaitGroup
		res := make([]string, 2*pairs)
		for i := range 2 * pairs {
			wg.Go(func() {
				r := f.c.Do("POST", "/api/v1/helpdesk/tickets", f.agentA, map[string]any{"subject": "Race", "message": "Hello",
					"requester": map[string]string{"email": fmt.Sprintf("race-%d-%d@x.test", round, i/2)}})
				if r.Status != 201 {
					res[i] = fmt.Sprintf("%d %s", r.Status, r.Body)
				}
			})
		}
		wg.Wait()
		for i, r := range res {
			if r != "" {
				t.Fatalf("round %d: create %d = %s", round, i, r)
			}
		}
		if got := f.count(t, "helpdesk_customers") - before; got != pairs {
			t.Fatalf("round %d: %d new customers, want %d", round, got, pairs)
		}
	}
}
