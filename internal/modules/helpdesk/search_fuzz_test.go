package helpdesk

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzSearchTerms: whatever q is, its terms are non-empty runs of letters,
// digits and marks, at most maxTerms of them, so that neither FTS5's nor
// MariaDB's query syntax sees an operator or a quote.
func FuzzSearchTerms(f *testing.F) {
	for _, s := range []string{`printer jam`, `"`, `"a" OR b*`, `NEAR(a b)`, `+a -b ~c <d >e (f) "g"`, `col:x`, "\x00",
		"e\u0301", `😀`, `a-b_c.d`, strings.Repeat("x ", 40), `'; DROP TABLE t; --`, "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms := searchTerms(q)
		if len(terms) > maxTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" {
				t.Fatal("empty term")
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
					t.Fatalf("term %q of %q has %q", term, q, r)
				}
			}
		}
	})
}
