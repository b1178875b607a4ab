package helpdesk

import (
	"regexp"
	"strings"
)

// Quoted text of inbound replies.
//
// A customer who answers an e-mail usually leaves the conversation so far
// below the answer: an attribution line ("On Tue, 3 Nov 2026 at 10:00,
// Support <help@example.com> wrote:") and the earlier messages, each line
// behind "> ", or Outlook's header block. On a ticket that already shows
// those messages it is noise, so a reply that threads to a ticket keeps
// only what the customer wrote; the rest is kept beside it, as the
// message's quoted_text, for whoever wants to see it. An answer written
// between the quoted lines (an inline reply) is left whole: only a quote
// that runs to the end of the message is cut.

var (
	// attribution lines of common mail clients, in the languages they are
	// most often seen in; the line may be wrapped in two (Gmail).
	attribution = regexp.MustCompile(`(?i)^(on\s.+\swrote|am\s.+\sschrieb\s.*|le\s.+\sa\s+écrit|el\s.+\sescribió|il\s.+\sha\s+scritto|op\s.+\sschreef\s.*|em\s.+\sescreveu)\s?:\s*$`)
	// Outlook's and others' separators before a copy of the message.
	separator = regexp.MustCompile(`(?i)^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}|_{20,})\s*$`)
	// A header block as Outlook writes it: From: then Sent: or Date:.
	fromLine = regexp.MustCompile(`(?i)^\*?(from|von|de|da|van)\s?:\*?\s+\S`)
	sentLine = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden)\s?:\*?\s+\S`)
)

// splitQuoted cuts body into what its author wrote and the quoted tail. It
// returns body and "" when nothing is quoted at the end, or when nothing
// would be left above the quote.
func splitQuoted(body string) (reply, quoted string) {
	lines := strings.Split(body, "\n")
	cut := quoteStart(lines)
	if cut < 0 {
		return body, ""
	}
	reply = strings.TrimRight(strings.Join(lines[:cut], "\n"), " \t\r\n")
	if strings.TrimSpace(reply) == "" {
		return body, ""
	}
	return reply, strings.TrimSpace(strings.Join(lines[cut:], "\n"))
}

// quoteStart is the index of the first line of the quoted tail, or -1.
func quoteStart(lines []string) int {
	for i, raw := range lines {
		l := strings.TrimSpace(raw)
		switch {
		case separator.MatchString(l):
			return i
		case fromLine.MatchString(l) && headerBlock(lines[i+1:]):
			return i
		case isAttribution(l):
			return i
		case l != "" && !strings.HasSuffix(l, ":") && i+1 < len(lines) && isAttribution(l+" "+strings.TrimSpace(lines[i+1])):
			return i // an attribution wrapped over two lines
		}
	}
	// No marker: a run of "> " lines to the end of the message.
	end := len(lines)
	for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	start := end
	for start > 0 {
		l := strings.TrimSpace(lines[start-1])
		if !strings.HasPrefix(l, ">") && l != "" {
			break
		}
		start--
	}
	for start < end && strings.TrimSpace(lines[start]) == "" {
		start++
	}
	if start == end {
		return -1
	}
	return start
}

// isAttribution reports whether l introduces a quote: a known wording
// with a date or time in it, so that a sentence of the customer's own such
// as "On second thought, here is what I wrote:" is not taken for one.
func isAttribution(l string) bool {
	return strings.ContainsAny(l, "0123456789") && attribution.MatchString(l)
}

// headerBlock reports whether a Sent: or Date: line follows within the
// next three lines, as in a quoted message's header block.
func headerBlock(next []string) bool {
	for i := 0; i < len(next) && i < 3; i++ {
		if sentLine.MatchString(strings.TrimSpace(next[i])) {
			return true
		}
	}
	return false
}
