package searchtext

import (
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
)

func terms(text string) []string {
	var out []string
	for _, t := range Tokens(text) {
		out = append(out, t.Term)
	}
	return out
}

func TestTextTakesTextReasoningAndToolResults(t *testing.T) {
	parts := []message.Part{
		message.Text{Text: "hello"},
		message.ToolCall{ID: "c", Name: "lookup", Input: []byte(`{"q":"secret input"}`)},
		message.Reasoning{Text: "thinking", Signature: "sig"},
		message.ToolResult{CallID: "c", Name: "lookup", Content: "result"},
		message.Text{Text: ""},
	}
	if got := Text(parts); got != "hello\nthinking\nresult" {
		t.Errorf("Text = %q", got)
	}
}

// The normalisation rules: NFKC (UAX #15, https://unicode.org/reports/tr15/),
// full case folding (CaseFolding.txt, https://www.unicode.org/Public/UCD/latest/ucd/CaseFolding.txt),
// diacritics removed in Latin, Greek, Cyrillic, Arabic and Hebrew.
func TestNormalisation(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Café crème", "cafe creme"},
		{"CAFÉ", "cafe"},
		{"cafe\u0301", "cafe"},                // decomposed é
		{"Straße STRASSE", "strasse strasse"}, // ß folds to ss
		{"ＡＢＣ１２３", "abc123"},                  // full-width forms (NFKC)
		{"ﬁnance", "finance"},                 // ligature (NFKC)
		{"Ελλάδα ΕΛΛΆΔΑ", "ελλαδα ελλαδα"},
		{"ὈΔΥΣΣΕΎΣ", "οδυσσευσ"}, // final sigma folds to σ
		{"Ёлка ёлка елка", "елка елка елка"},
		{"Tiếng Việt", "tieng viet"}, // stacked diacritics
		{"العَرَبِيَّة", "العربية"},  // Arabic harakat
		{"Zürich, 2024-11-26", "zurich 2024 11 26"},
		{"snake_case e-mail 3.14", "snake case e mail 3 14"},
		{"emoji 🎉 here!", "emoji here"},
	} {
		if got := strings.Join(terms(tc.text), " "); got != tc.want {
			t.Errorf("terms(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// Marks are kept where they are spelling: Devanagari vowel signs and virama,
// Thai vowels and tones, the Japanese voicing mark.
func TestMarksKeptOutsideStrippedScripts(t *testing.T) {
	if got := terms("हिन्दी"); !slices.Equal(got, []string{"हिन्दी"}) {
		t.Errorf("Devanagari: %q", got)
	}
	if Parse("か").Match("が") {
		t.Error("か matches が: the voicing mark was removed")
	}
	if !Parse("ｶﾞ").Match("ガ") {
		t.Error("half-width ｶﾞ does not match ガ (NFKC composes them)")
	}
}

// Scripts without spaces are cut into overlapping bigrams and the last
// character of each run, as Lucene's CJKBigramFilter does
// (https://lucene.apache.org/core/9_0_0/analysis/common/org/apache/lucene/analysis/cjk/CJKBigramFilter.html).
func TestBigrams(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"東京都庁", []string{"東京", "京都", "都庁", "庁"}},
		{"東", []string{"東"}},
		{"iPhone用の", []string{"iphone", "用の", "の"}},
		{"2024年に", []string{"2024", "年に", "に"}},
		{"コーヒー", []string{"コー", "ーヒ", "ヒー", "ー"}},
		{"ภาษาไทย", []string{"ภา", "าษ", "ษา", "าไ", "ไท", "ทย", "ย"}},
		{"ที่", []string{"ที่"}}, // one character: a base and two marks
	} {
		if got := terms(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("terms(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// Real sentences: the Japanese, Chinese, Korean and Thai Wikipedia articles'
// opening lines, lightly shortened, and a French and a German one.
func TestMatchInEveryScript(t *testing.T) {
	for _, tc := range []struct {
		text  string
		match []string
		miss  []string
	}{
		{"東京都は、日本の首都であり、関東地方に位置する。",
			[]string{"東京", "東京都", "首都", "日本", "関東地方", "京", "都", "東京 首都", `"日本の首都"`},
			[]string{"大阪", "京都府", "東京タワー", `"首都 日本"`}},
		{"北京市是中华人民共和国的首都。",
			[]string{"北京", "首都", "人民", "共和国", "京"},
			[]string{"南京", "上海"}},
		{"서울특별시는 대한민국의 수도이다. 서울에서 만나요.",
			[]string{"서울", "수도", "대한민국", "서울에서", "만나요"},
			[]string{"부산"}},
		{"ภาษาไทยเป็นภาษาราชการของประเทศไทย",
			[]string{"ภาษาไทย", "ภาษา", "ประเทศไทย", "ราชการ"},
			[]string{"ภาษาลาว"}},
		{"Un café crème à Zürich, s'il vous plaît.",
			[]string{"cafe", "CAFÉ", "creme", "zurich", "Zürich", "plait", "caf*", "café crème", `"cafe creme"`, `"café cr"*`},
			[]string{"caffe", `"creme cafe"`, "cafés"}},
		{"Die Straße ist lang.",
			[]string{"strasse", "STRASSE", "straße", "stra*"},
			[]string{"strase"}},
		{"Ελλάδα είναι χώρα", []string{"ελλαδα", "ΕΛΛΑΔΑ", "χωρα"}, []string{"ελλας"}},
	} {
		for _, q := range tc.match {
			if !Parse(q).Match(tc.text) {
				t.Errorf("%q does not match %q", q, tc.text)
			}
		}
		for _, q := range tc.miss {
			if Parse(q).Match(tc.text) {
				t.Errorf("%q matches %q", q, tc.text)
			}
		}
	}
}

func TestQuerySyntax(t *testing.T) {
	text := "the quick brown fox jumps over the lazy dog; configuration of snake_case"
	for q, want := range map[string]bool{
		"quick fox":            true,  // AND
		"quick cat":            false, // AND
		`"quick brown"`:        true,  // phrase
		`"brown quick"`:        false, // order
		`"quick fox"`:          false, // adjacency
		"conf*":                true,  // prefix
		"conf":                 false, // a word is whole
		"configurations":       false,
		`"lazy do"*`:           true, // phrase with a prefix last term
		`"lazy do"`:            false,
		"snake_case":           true, // one chunk, several terms: a phrase
		"case_snake":           false,
		`"quick brown`:         true, // unbalanced quote: to the end
		"QUICK":                true,
		"quick -fox":           true, // - is text, not NOT
		"quick OR cat":         false,
		"":                     false,
		`"" * - :`:             false,
		"fox\x00":              true,
		"NEAR(quick fox)":      false, // NEAR( is text: the phrase "near quick"
		`text:quick`:           false, // "text quick" is not a phrase here
		"dog; configuration":   true,
		`"dog; configuration"`: true, // separators between phrase terms do not matter
	} {
		if got := Parse(q).Match(text); got != want {
			t.Errorf("Parse(%q).Match = %v, want %v (clauses %+v)", q, got, want, Parse(q).Clauses)
		}
	}
}

func TestFTS5QuotesEveryTerm(t *testing.T) {
	for q, want := range map[string]string{
		"kiwi":               `"kiwi"`,
		"kiwi AND fig":       `"kiwi" "and" "fig"`,
		`"new york" conf*`:   `"new" + "york" "conf" *`,
		"東京都":                `"東京" + "京都"`,
		"京":                  `"京" *`,
		`NEAR(a b) ^x col:y`: `"near" + "a" "b" "x" "col" + "y"`,
		`" * ( ) :`:          ``,
	} {
		if got := Parse(q).FTS5(); got != want {
			t.Errorf("Parse(%q).FTS5() = %s, want %s", q, got, want)
		}
	}
}

func TestTSQuery(t *testing.T) {
	for q, want := range map[string]string{
		"kiwi":             `'kiwi'`,
		`"new york" conf*`: `('new' <-> 'york') & 'conf':*`,
		"京":                `'京':*`,
		"":                 ``,
	} {
		if got := Parse(q).TSQuery(); got != want {
			t.Errorf("Parse(%q).TSQuery() = %s, want %s", q, got, want)
		}
	}
	if got := TSVector("a b a"); got != `'a':1,3 'b':2` {
		t.Errorf("TSVector = %s", got)
	}
}

func TestLongTermsAreCut(t *testing.T) {
	long := strings.Repeat("é", 80) // 160 bytes
	got := terms(long)
	if len(got) != 1 || len(got[0]) > MaxTermBytes || got[0] != strings.Repeat("e", 80) {
		t.Errorf("terms = %q", got)
	}
	long = strings.Repeat("ж", 80)
	got = terms(long)
	if len(got[0]) != MaxTermBytes || !strings.HasPrefix(long, got[0]) {
		t.Errorf("terms of a long word = %q (%d bytes)", got, len(got[0]))
	}
	if !Parse(long).Match("x " + long + " y") {
		t.Error("a long word does not find itself")
	}
}

// A character with many marks is one character, and a lone one (or the
// last of a run) was once indexed whole: a Thai consonant with 700 vowel
// marks made a 2,103-byte term, which PostgreSQL refused ("word is too
// long", max 2,047 bytes), so that the message could not be stored.
func TestLongCharactersAreCut(t *testing.T) {
	heavy := "ข" + strings.Repeat("\u0e31", 700)
	for _, text := range []string{heavy, "ก" + heavy, heavy + "ก", "東" + strings.Repeat("\u0301", 1100)} {
		for _, tok := range Tokens(text) {
			if len(tok.Term) > MaxTermBytes {
				t.Errorf("Tokens(%.12q…): term of kind %d is %d bytes, over MaxTermBytes", text, tok.Kind, len(tok.Term))
			}
		}
		if !Parse(text).Match("x " + text + " y") {
			t.Errorf("%.12q… does not find itself", text)
		}
	}
	// A character's term that may have been cut is a prefix in the
	// engines' queries, so that it finds the whole term in an index built
	// before the cut. A bigram was always cut (so was every word): it is
	// matched whole, as a prefix would also match longer terms that the
	// engines' page of hits then loses to the check in Go.
	q := Parse(`"ก` + heavy + ` x"`)
	toks := Tokens("ก" + heavy + " x") // a bigram and the last character, both cut; x
	pair, last := toks[0].Term, toks[1].Term
	if got, want := q.FTS5(), `"`+pair+`" + "`+last+`" * + "x"`; got != want {
		t.Errorf("FTS5() = %q, want %q", got, want)
	}
	if got, want := q.TSQuery(), `('`+pair+`' <-> '`+last+`':* <-> 'x')`; got != want {
		t.Errorf("TSQuery() = %q, want %q", got, want)
	}
	// A word of more than MaxTermBytes-utf8.UTFMax bytes is no prefix.
	word := strings.Repeat("q", MaxTermBytes-2)
	if got, want := Parse(word).FTS5(), `"`+word+`"`; got != want {
		t.Errorf("FTS5() of a %d-byte word = %q, want %q", len(word), got, want)
	}
	if got, want := Parse(word).TSQuery(), `'`+word+`'`; got != want {
		t.Errorf("TSQuery() of a %d-byte word = %q, want %q", len(word), got, want)
	}
}

func TestQueryTermsAreBounded(t *testing.T) {
	q := Parse(strings.Repeat("w ", 10) + strings.Repeat("x", 0) + strings.Join(func() []string {
		var s []string
		for i := range 200 {
			s = append(s, "t"+itoa(i))
		}
		return s
	}(), " "))
	n := 0
	for _, c := range q.Clauses {
		n += len(c.Terms)
	}
	if n > MaxQueryTerms {
		t.Errorf("%d terms, want at most %d", n, MaxQueryTerms)
	}
}

func TestSnippetHighlights(t *testing.T) {
	const o, c = "\x02", "\x03"
	for _, tc := range []struct{ text, q, want string }{
		{"before words then the pelican and after words", "pelican", "before words then the \x02pelican\x03 and after words"},
		{"Un café crème", "cafe", "Un \x02café\x03 crème"},
		{"東京都は日本の首都", "京", "東\x02京\x03都は日本の首都"},
		{"東京都は日本の首都", "東京都", "\x02東京都\x03は日本の首都"},
		{"東京都は日本の首都", "首都 東京", "\x02東京\x03都は日本の\x02首都\x03"},
		{"ภาษาไทยเป็นภาษาราชการ", "ภาษา", "\x02ภาษา\x03ไทยเป็น\x02ภาษา\x03ราชการ"},
		{"the configuration file", "conf*", "the \x02configuration\x03 file"},
		{"new york, new york", `"new york"`, "\x02new york\x03, \x02new york\x03"},
		{"a \x02fake\x03 marker and kiwi", "kiwi", "a fake marker and \x02kiwi\x03"},
	} {
		got, ok := Parse(tc.q).Highlight(tc.text, o, c)
		if !ok || got != tc.want {
			t.Errorf("Highlight(%q, %q) = %q, %v; want %q", tc.text, tc.q, got, ok, tc.want)
		}
	}
}

func TestSnippetWindowOnLongText(t *testing.T) {
	text := strings.Repeat("filler words here ", 50) + "the walrus sat " + strings.Repeat("more filler ", 50)
	got, ok := Parse("walrus").Highlight(text, "[", "]")
	if !ok {
		t.Fatal("no match")
	}
	if !strings.Contains(got, "[walrus]") || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") {
		t.Errorf("snippet %q", got)
	}
	if n := len([]rune(got)); n > SnippetRunes+10 {
		t.Errorf("snippet has %d characters", n)
	}
}

func FuzzParseAndMatch(f *testing.F) {
	f.Add("東京 \"new york\" conf*", "東京都 New York configuration")
	f.Add("\"", "")
	f.Fuzz(func(t *testing.T, q, text string) {
		p := Parse(q)
		_ = p.FTS5()
		_ = p.TSQuery()
		spans, ok := p.Matches(Tokens(text))
		if ok {
			s := Snippet(text, spans, "\x02", "\x03")
			if !strings.Contains(s, "\x02") {
				t.Errorf("match of %q in %q without a highlight: %q", q, text, s)
			}
		}
	})
}

func BenchmarkTerms(b *testing.B) {
	text := "turn 1 message 0: " + strings.Repeat("lorem ipsum dolor sit amet ", 36)
	b.SetBytes(int64(len(text)))
	for range b.N {
		Terms(text)
	}
}

func BenchmarkTermsMixed(b *testing.B) {
	text := strings.Repeat("東京都は、日本の首都であり、Un café crème à Zürich. ", 10)
	b.SetBytes(int64(len(text)))
	for range b.N {
		Terms(text)
	}
}
