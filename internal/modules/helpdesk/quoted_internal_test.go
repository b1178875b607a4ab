package helpdesk

import "testing"

func TestSplitQuoted(t *testing.T) {
	for _, c := range []struct{ name, body, reply, quoted string }{
		{"gmail",
			"Thanks, that worked.\n\nOn Tue, Nov 3, 2026 at 10:00 AM Support <help@example.com> wrote:\n> Please restart the router.\n> \n> Kind regards",
			"Thanks, that worked.",
			"On Tue, Nov 3, 2026 at 10:00 AM Support <help@example.com> wrote:\n> Please restart the router.\n> \n> Kind regards"},
		{"gmail, attribution wrapped",
			"Still broken.\n\nOn Tue, Nov 3, 2026 at 10:00 AM Support Team <\nhelp@example.com> wrote:\n\n> Please restart the router.",
			"Still broken.",
			"On Tue, Nov 3, 2026 at 10:00 AM Support Team <\nhelp@example.com> wrote:\n\n> Please restart the router."},
		{"apple mail", "Yes.\n\n> On 3 Nov 2026, at 10:00, Support <help@example.com> wrote:\n> \n> Is it fixed?",
			"Yes.", "> On 3 Nov 2026, at 10:00, Support <help@example.com> wrote:\n> \n> Is it fixed?"},
		{"german", "Danke!\n\nAm Di., 3. Nov. 2026 um 10:00 Uhr schrieb Support <help@example.com>:\n> Bitte neu starten.",
			"Danke!", "Am Di., 3. Nov. 2026 um 10:00 Uhr schrieb Support <help@example.com>:\n> Bitte neu starten."},
		{"french", "Merci.\n\nLe mar. 3 nov. 2026 à 10:00, Support <help@example.com> a écrit :\n> Redémarrez.",
			"Merci.", "Le mar. 3 nov. 2026 à 10:00, Support <help@example.com> a écrit :\n> Redémarrez."},
		{"outlook separator", "See attached.\r\n\r\n-----Original Message-----\r\nFrom: Support\r\nSent: Tuesday\r\n\r\nHello",
			"See attached.", "-----Original Message-----\r\nFrom: Support\r\nSent: Tuesday\r\n\r\nHello"},
		{"outlook header block", "Works now.\n\n________________________________\nFrom: Support <help@example.com>\nSent: 03 November 2026 10:00\nTo: Ann\nSubject: Re: [#abc] Router\n\nPlease restart it.",
			"Works now.", "________________________________\nFrom: Support <help@example.com>\nSent: 03 November 2026 10:00\nTo: Ann\nSubject: Re: [#abc] Router\n\nPlease restart it."},
		{"outlook header block without a rule", "Works now.\n\nFrom: Support <help@example.com>\nDate: 03 November 2026 10:00\n\nPlease restart it.",
			"Works now.", "From: Support <help@example.com>\nDate: 03 November 2026 10:00\n\nPlease restart it."},
		{"a trailing quote without attribution", "Fine by me.\n\n> Shall we close the ticket?\n>\n> Support\n\n",
			"Fine by me.", "> Shall we close the ticket?\n>\n> Support"},

		// Kept whole.
		{"no quote", "Hello,\nmy router is broken.\nAnn", "Hello,\nmy router is broken.\nAnn", ""},
		{"an inline answer", "> Which model?\nThe X200.\n> Since when?\nSince Monday.", "> Which model?\nThe X200.\n> Since when?\nSince Monday.", ""},
		{"only a quote", "> Is it fixed?\n> Support", "> Is it fixed?\n> Support", ""},
		{"only an attribution and a quote", "On Tue, Nov 3, 2026 at 10:00 AM Support <help@example.com> wrote:\n> Is it fixed?",
			"On Tue, Nov 3, 2026 at 10:00 AM Support <help@example.com> wrote:\n> Is it fixed?", ""},
		{"the customer's own sentence", "On second thought, here is what I wrote:\nthe router blinks red.",
			"On second thought, here is what I wrote:\nthe router blinks red.", ""},
		{"a From: line that is no header block", "From: my desk\nI tried again.\nStill red.", "From: my desk\nI tried again.\nStill red.", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			reply, quoted := splitQuoted(c.body)
			if reply != c.reply || quoted != c.quoted {
				t.Errorf("splitQuoted(%q)\n got reply %q, quoted %q\nwant reply %q, quoted %q", c.body, reply, quoted, c.reply, c.quoted)
			}
		})
	}
}
