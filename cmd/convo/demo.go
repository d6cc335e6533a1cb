package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"time"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// defaultDemoDB is where convo demo writes when neither --db nor CONVO_DB
// names a store.
const defaultDemoDB = "convo-demo.db"

// demoCommand is convo demo.
func (a *app) demoCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Write a sample store to try convo on (writes)",
		Long: `demo writes a store of sample sessions, so that the CLI and the viewer can be
tried without writing code: several owners (one with a CJK name), multi-turn
chats with tool calls and their results (one failed), reasoning with its
signature, an image attachment, a summary that stands in for earlier turns,
text in many scripts, titles and metadata, a session older than six months,
one interrupted in the middle of a tool call (for convo doctor), and a long
session of 3,000 messages (for show --tail and the viewer's paging).

The sessions, message ids and times are fixed, so every run writes the same
store and the output shown in the docs is what you get. The store is --db,
else CONVO_DB, else ./convo-demo.db. demo refuses a store that already holds
sessions; --force writes into it anyway, replacing the demo's own sessions
(their ids) and leaving every other session alone.`,
		Example: `  convo demo
  convo demo --db sqlite:/tmp/demo.db
  convo demo --db postgres://localhost/test --prefix demo_`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.db == "" {
				a.db = defaultDemoDB
			}
			ctx := cmd.Context()
			b, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer b.close()
			sessions := demoData()
			page, err := session.List(ctx, b.store, session.ListQuery{Limit: 1})
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if len(page.Sessions) > 0 && !force {
				return fmt.Errorf("demo: %s already holds sessions; demo writes only into an empty store (--force replaces the demo's sessions and keeps the others)", b.where)
			}
			n, err := writeDemo(ctx, b.store, sessions)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			fmt.Fprintf(a.stdout, "wrote %s, %s to %s\n", plural(len(sessions), "session", "sessions"), plural(n, "message", "messages"), b.where)
			fmt.Fprintf(a.stdout, "try: convo --db %s ls\n", shellQuote(a.db))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "write into a store that holds sessions, replacing the demo's own")
	return cmd
}

// writeDemo writes sessions into store, replacing any session with the
// same id, and returns the number of messages written. Each session gets
// its last message's time as its last activity (session.Importer), so that
// ls orders and prune ages them as the fixed clock says.
func writeDemo(ctx context.Context, store session.Store, sessions []demoSess) (int, error) {
	d, ok := store.(session.Describer)
	if !ok {
		return 0, fmt.Errorf("%T cannot record owners and titles: %w", store, session.ErrNotSupported)
	}
	imp, ok := store.(session.Importer)
	if !ok {
		return 0, fmt.Errorf("%T cannot record last-activity times: %w", store, session.ErrNotSupported)
	}
	total := 0
	for _, s := range sessions {
		if err := store.Delete(ctx, s.id); err != nil {
			return total, fmt.Errorf("replace %q: %w", s.id, err)
		}
		sess, err := d.CreateWith(ctx, s.id, s.opts)
		if err != nil {
			return total, fmt.Errorf("create %q: %w", s.id, err)
		}
		for i := 0; i < len(s.msgs); i += 500 {
			if err := sess.AddMessages(ctx, s.msgs[i:min(i+500, len(s.msgs))]); err != nil {
				return total, fmt.Errorf("append to %q: %w", s.id, err)
			}
		}
		if err := imp.SetUpdatedAt(ctx, s.id, s.msgs[len(s.msgs)-1].CreatedAt); err != nil {
			return total, fmt.Errorf("date %q: %w", s.id, err)
		}
		total += len(s.msgs)
	}
	return total, nil
}

// demoSess is one sample session.
type demoSess struct {
	id   string
	opts session.CreateOptions
	msgs []message.Message
}

// convBuilder writes a session's messages with ids and times from a fixed
// clock: ids are the session id and a number, each message a few seconds
// after the one before.
type convBuilder struct {
	id   string
	at   time.Time
	msgs []message.Message
}

// newConv starts the messages of session id at start.
func newConv(id string, start time.Time) *convBuilder { return &convBuilder{id: id, at: start} }

// add appends a message of role, after seconds.
func (c *convBuilder) add(after int, role message.Role, parts ...message.Part) *message.Message {
	c.at = c.at.Add(time.Duration(after) * time.Second)
	c.msgs = append(c.msgs, message.Message{
		ID:        fmt.Sprintf("%s-%04d", c.id, len(c.msgs)+1),
		Role:      role,
		Parts:     parts,
		CreatedAt: c.at.UnixNano(),
	})
	return &c.msgs[len(c.msgs)-1]
}

// system appends a system prompt.
func (c *convBuilder) system(text string) { c.add(0, message.RoleSystem, message.Text{Text: text}) }

// user appends a user message of text (and more parts), after seconds.
func (c *convBuilder) user(after int, text string, more ...message.Part) {
	c.add(after, message.RoleUser, append([]message.Part{message.Text{Text: text}}, more...)...)
}

// assistant appends an assistant message from model with its token usage.
func (c *convBuilder) assistant(after int, model string, in, out int64, parts ...message.Part) {
	m := c.add(after, message.RoleAssistant, parts...)
	m.Model = model
	m.Usage = &message.Usage{InputTokens: in, OutputTokens: out}
}

// result appends a tool message with one result.
func (c *convBuilder) result(after int, callID, name, content string, isError bool) {
	c.add(after, message.RoleTool, message.ToolResult{CallID: callID, Name: name, Content: content, IsError: isError})
}

// text is a text part.
func text(s string) message.Part { return message.Text{Text: s} }

// call is a tool call part with JSON input.
func call(id, name, input string) message.Part {
	return message.ToolCall{ID: id, Name: name, Input: json.RawMessage(input)}
}

// demoDay is the fixed clock of the demo: its sessions happen in the
// weeks before this day (UTC).
var demoDay = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// demoData returns the demo's sessions. The same every time.
func demoData() []demoSess {
	var out []demoSess
	add := func(c *convBuilder, owner, title string, meta map[string]string, created time.Time) {
		out = append(out, demoSess{id: c.id, msgs: c.msgs,
			opts: session.CreateOptions{Owner: owner, Title: title, Metadata: meta, CreatedAt: created.UnixNano()}})
	}

	// A travel assistant: a photo, reasoning, two tool calls over two turns.
	start := demoDay.Add(-2*24*time.Hour + 9*time.Hour + 30*time.Minute)
	c := newConv("trip-paris", start)
	c.system("You are a helpful travel assistant. Use the tools for facts; answer briefly.")
	c.user(20, "What's the weather in Paris this weekend? Here is my photo from last time.",
		message.Binary{MIMEType: "image/png", Data: demoPNG(), Name: "champ-de-mars.png"})
	c.assistant(3, "gpt-4.1", 1184, 61,
		message.Reasoning{Text: "The user wants the weekend forecast for Paris. I should call get_weather for Saturday and Sunday before answering, and the photo shows the Champ de Mars."},
		text("Let me check the forecast."),
		call("call_wx1", "get_weather", `{"city":"Paris","days":["saturday","sunday"],"units":"metric"}`))
	c.result(1, "call_wx1", "get_weather", `{"saturday":{"sky":"sunny","high_c":18,"low_c":11},"sunday":{"sky":"showers","high_c":16,"low_c":10,"rain_mm":6}}`, false)
	c.assistant(2, "gpt-4.1", 1290, 52, text("Saturday looks lovely: sunny, 18 °C. Sunday brings showers and 16 °C, so pack an umbrella. Your photo is from the Champ de Mars; that spot is best on Saturday morning."))
	c.user(95, "Great. Can you find a bistro near the Eiffel Tower for Saturday evening, for two?")
	c.assistant(2, "gpt-4.1", 1402, 40,
		call("call_pl1", "search_places", `{"near":"Eiffel Tower, Paris","kind":"bistro","party":2,"when":"saturday 19:30"}`))
	c.result(1, "call_pl1", "search_places", `[{"name":"Le Petit Cler","walk_min":12,"rating":4.5,"table_at":"19:30"},{"name":"Café Constant","walk_min":9,"rating":4.6,"table_at":"20:15"}]`, false)
	c.assistant(2, "gpt-4.1", 1530, 71, text("Two good options:\n\n- **Café Constant**, 9 minutes on foot, rated 4.6; a table for two at 20:15.\n- **Le Petit Cler**, 12 minutes away, rated 4.5; a table at 19:30.\n\nShall I book one of them?"))
	c.user(40, "Café Constant at 20:15, please.")
	c.assistant(2, "gpt-4.1", 1611, 25, call("call_bk1", "book_table", `{"place":"Café Constant","party":2,"at":"2026-11-21T20:15:00+01:00"}`))
	c.result(2, "call_bk1", "book_table", `{"confirmation":"CC-2291","name":"Alice"}`, false)
	c.assistant(2, "gpt-4.1", 1660, 30, text("Booked: Café Constant, Saturday 20:15, for two (confirmation CC-2291). Enjoy Paris!"))
	add(c, "alice", "Weekend in Paris", map[string]string{"channel": "web", "locale": "en-GB"}, start)

	// A coding agent with extended thinking, a failing test and a fix.
	start = demoDay.Add(-24*time.Hour + 14*time.Hour)
	c = newConv("refactor-auth", start)
	c.system("You are a careful coding agent working in the repository github.com/acme/shop. Run the tests before you say you are done.")
	c.user(10, "The auth middleware accepts expired tokens. Can you find out why and fix it?")
	c.assistant(6, "claude-sonnet-4-5", 3120, 140,
		message.Reasoning{Text: "I should read the middleware first. Expired tokens passing suggests the expiry check compares the wrong way round, or uses the issue time.",
			Signature: "EuYBCkQYAiJAfV0u1dG6m8p2nq3xS0dVv8mZ1Xh6pR3c9QkT0Lw4YbN5s7JvE2gH1uK8oI3aD6fL9zC0xW4eR7tY2iU5o=="},
		text("I'll start with the middleware."),
		call("toolu_01", "read_file", `{"path":"internal/auth/middleware.go"}`))
	c.result(1, "toolu_01", "read_file", "func (m *Middleware) valid(t *Token) bool {\n\tif t.ExpiresAt.Before(m.now()) || t.ExpiresAt.Equal(m.now()) {\n\t\treturn true\n\t}\n\treturn t.Audience == m.audience\n}", false)
	c.assistant(5, "claude-sonnet-4-5", 3410, 120,
		message.Reasoning{Text: "Found it: valid returns true when the token has expired. The condition should reject those tokens. I'll write a failing test first.",
			Signature: "EpYBCkQYAiJA3Jq0sV7lKp1cX9mN2bH5tR8wE4yU6iO0pA3sD7fG1hJ5kL9zX2cV6bN0mQ4wE8rT1yU3iO7pA5sD9fG=="},
		text("`valid` returns true for an expired token. First a test that shows it:"),
		call("toolu_02", "run_tests", `{"package":"./internal/auth","run":"TestExpiredToken"}`))
	c.result(14, "toolu_02", "run_tests", "--- FAIL: TestExpiredToken (0.00s)\n    middleware_test.go:41: expired token accepted: got true, want false\nFAIL\nFAIL\tgithub.com/acme/shop/internal/auth\t0.012s", true)
	c.assistant(4, "claude-sonnet-4-5", 3688, 210,
		text("The test fails as expected. Fixing the condition:"),
		call("toolu_03", "edit_file", `{"path":"internal/auth/middleware.go","old":"\treturn true\n","new":"\treturn false\n"}`))
	c.result(1, "toolu_03", "edit_file", "edited internal/auth/middleware.go (1 line)", false)
	c.assistant(3, "claude-sonnet-4-5", 3902, 60, call("toolu_04", "run_tests", `{"package":"./internal/auth"}`))
	c.result(9, "toolu_04", "run_tests", "ok  \tgithub.com/acme/shop/internal/auth\t0.031s", false)
	c.assistant(3, "claude-sonnet-4-5", 4011, 95, text("Fixed. `valid` now rejects a token whose expiry is at or before now; `TestExpiredToken` covers it and the package's tests pass."))
	c.user(180, "Thanks. Does anything else call valid()?")
	c.assistant(4, "claude-sonnet-4-5", 4150, 70,
		// Redacted thinking: the provider sent only encrypted data.
		message.Reasoning{Redacted: true, Signature: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIxAIEbOWU6o7E2pm6hsG5NbTjV5oT3nvZkUXxE1nB8dcl5EBq3cwwJ7pL1m4vXvZqa2w=="},
		call("toolu_05", "grep", `{"pattern":"\\.valid\\(","path":"."}`))
	c.result(1, "toolu_05", "grep", "internal/auth/middleware.go:58:\tif !m.valid(tok) {\ninternal/auth/refresh.go:23:\tif !m.valid(old) {", false)
	c.assistant(3, "claude-sonnet-4-5", 4290, 88, text("Two callers: the middleware itself and `refresh.go`, which now also refuses to refresh an expired token. That is the intended behaviour, but it is a change: clients that refresh after expiry will have to log in again."))
	add(c, "alice", "Fix: expired tokens accepted", map[string]string{"repo": "github.com/acme/shop", "agent": "coder"}, start)

	// Customer support with order tools.
	start = demoDay.Add(-3*24*time.Hour + 16*time.Hour + 5*time.Minute)
	c = newConv("support-1042", start)
	c.system("You are the support assistant of Umbrella & Co. Be kind and precise.")
	c.user(15, "Hi, my order #1042 arrived today and the umbrella's handle is cracked.")
	c.assistant(3, "gpt-4.1-mini", 640, 33, call("call_o1", "lookup_order", `{"order":"1042"}`))
	c.result(1, "call_o1", "lookup_order", `{"order":"1042","item":"Storm umbrella, navy","delivered":"2026-11-17","price_eur":39}`, false)
	c.assistant(2, "gpt-4.1-mini", 720, 58, text("I'm sorry about that! I can see order #1042, a navy Storm umbrella delivered on 17 November. Would you like a replacement or a refund?"))
	c.user(60, "A replacement, please.")
	c.assistant(2, "gpt-4.1-mini", 790, 30, call("call_o2", "create_return", `{"order":"1042","reason":"damaged","resolution":"replacement"}`))
	c.result(1, "call_o2", "create_return", `{"return":"R-5531","label_url":"https://returns.example.com/R-5531.pdf","ships":"2026-11-18"}`, false)
	c.assistant(2, "gpt-4.1-mini", 860, 49, text("Done: return R-5531. Your replacement ships tomorrow, and the prepaid label is at https://returns.example.com/R-5531.pdf."))
	add(c, "bob", "Order #1042 arrived damaged", map[string]string{"channel": "email", "ticket": "1042"}, start)

	// Chinese: an owner, a title and a conversation in CJK.
	start = demoDay.Add(-4*24*time.Hour + 2*time.Hour)
	c = newConv("tokyo-5days", start)
	c.user(0, "我下个月去东京玩五天，预算大概两万日元一天，帮我安排一下行程好吗？")
	c.assistant(4, "qwen-max", 410, 96, call("call_fx", "convert_currency", `{"amount":20000,"from":"JPY","to":"CNY"}`))
	c.result(1, "call_fx", "convert_currency", `{"amount":957.4,"currency":"CNY","rate":0.04787}`, false)
	c.assistant(5, "qwen-max", 520, 310, text("两万日元约合 957 元人民币，一天够用。建议这样安排：\n\n第一天：浅草寺、晴空塔\n第二天：筑地场外市场、银座\n第三天：镰仓一日游\n第四天：涩谷、原宿、明治神宫\n第五天：秋叶原，然后去成田机场"))
	c.user(70, "第三天下雨的话有什么室内的选择？")
	c.assistant(4, "qwen-max", 880, 120, text("下雨的话可以去 teamLab Planets（丰洲）和东京国立博物馆（上野），两处都在室内，交通也方便。"))
	add(c, "王芳", "东京五日游行程", map[string]string{"语言": "中文"}, start)

	// Japanese title, Korean and Japanese text.
	start = demoDay.Add(-5*24*time.Hour + 11*time.Hour)
	c = newConv("kyoto-momiji", start)
	c.user(0, "京都で紅葉がきれいな場所を三つ教えてください。")
	c.assistant(3, "gpt-4.1", 220, 140, text("おすすめは三つです。\n1. 永観堂（夜のライトアップも見事です）\n2. 東福寺の通天橋\n3. 嵐山の宝厳院"))
	c.user(50, "한국어로도 알려 주세요.")
	c.assistant(3, "gpt-4.1", 390, 120, text("추천 장소 세 곳: 에이칸도(야간 조명도 멋집니다), 도후쿠지의 쓰텐쿄, 아라시야마의 호곤인."))
	add(c, "佐藤健", "京都の紅葉スポット", nil, start)

	// Many scripts in one session; a summary stands in for earlier turns.
	start = demoDay.Add(-6*24*time.Hour + 8*time.Hour)
	c = newConv("greetings", start)
	c.user(0, "How do I say \"good morning\" in Russian, Greek, Arabic and Hindi?")
	c.assistant(3, "gpt-4.1", 120, 60, text("Russian: Доброе утро\nGreek: Καλημέρα\nArabic: صباح الخير\nHindi: सुप्रभात"))
	c.user(40, "And \"thank you\" in Georgian, Thai and Amharic?")
	c.assistant(3, "gpt-4.1", 260, 48, text("Georgian: გმადლობთ\nThai: ขอบคุณ\nAmharic: አመሰግናለሁ"))
	c.add(30, message.RoleSummary, text("Summary of the conversation so far: the user is collecting greetings for a travel phrasebook; given so far are good morning (Russian, Greek, Arabic, Hindi) and thank you (Georgian, Thai, Amharic)."))
	c.user(20, "Now \"cheers!\" in Czech and Hebrew, with emoji 🍻")
	c.assistant(3, "gpt-4.1", 180, 30, text("Czech: Na zdraví! 🍻\nHebrew: לחיים! 🥂"))
	add(c, "carol", "Phrasebook: Доброе утро, Καλημέρα, صباح الخير", map[string]string{"project": "phrasebook"}, start)

	// Interrupted between a tool call and its result: convo doctor finds it.
	start = demoDay.Add(-24*time.Hour + 18*time.Hour + 40*time.Minute)
	c = newConv("invoice-upload", start)
	c.user(0, "Please upload the November invoices to the accounting folder.")
	c.assistant(3, "gpt-4.1-mini", 300, 40, text("Uploading them now."),
		call("call_up1", "upload_files", `{"glob":"invoices/2026-11-*.pdf","to":"accounting/2026/11"}`))
	add(c, "bob", "Upload invoices (interrupted)", map[string]string{"channel": "slack"}, start)

	// Old enough for convo prune --older-than 180d.
	start = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	c = newConv("printer-setup", start)
	c.user(0, "My printer shows \"offline\" on the office Wi-Fi.")
	c.assistant(4, "gpt-4o", 150, 80, text("Turn the printer off and on, then check that it joined the same network as your laptop (not the guest network)."))
	c.user(120, "That was it, it was on the guest network. Thanks!")
	c.assistant(2, "gpt-4o", 260, 12, text("Glad it works now!"))
	add(c, "bob", "Printer offline (spring)", nil, start)

	// A long session, for paging.
	start = demoDay.Add(-7 * 24 * time.Hour)
	c = newConv("standup-log", start)
	c.system("You keep the team's stand-up log. Record each update and answer questions about earlier ones.")
	people := []string{"Ana", "Ben", "Chen", "Dara", "Emeka"}
	areas := []string{"checkout", "search", "billing", "the mobile app", "onboarding", "the data export"}
	for i := 0; len(c.msgs) < 2999; i++ {
		who, area := people[i%len(people)], areas[(i*7)%len(areas)]
		c.user(300+i%97, fmt.Sprintf("Update %d from %s: finished the %s change from yesterday; today reviewing PR #%d; blocked on nothing.", i+1, who, area, 4100+i))
		c.assistant(2, "gpt-4.1-mini", int64(900+i*11), int64(20+i%17), text(fmt.Sprintf("Noted: %s, %s done, reviewing PR #%d today.", who, area, 4100+i)))
	}
	c.assistant(1, "gpt-4.1-mini", 34100, 40, text("That was the last update this week."))
	add(c, "team-atlas", "Stand-up log, November", map[string]string{"team": "atlas"}, start)
	return out
}

// demoPNG is a small picture (a tower under a sky) for the demo's image
// attachment, drawn here so the demo needs no file.
func demoPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 96))
	for y := 0; y < 96; y++ {
		for x := 0; x < 160; x++ {
			c := color.RGBA{R: uint8(90 + x/4), G: uint8(150 + y/2), B: 230, A: 255}
			if y >= 64 {
				c = color.RGBA{R: 60 + uint8(x/6), G: 120, B: 70, A: 255}
			}
			if d := x - 80; y >= 12 && y < 64 && d*d*16 <= (y-8)*(y-8) {
				c = color.RGBA{R: 70, G: 70, B: 80, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory RGBA image cannot fail
	}
	return buf.Bytes()
}
