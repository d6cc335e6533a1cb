package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// screenshotsEnv, set to 1, makes TestBrowserViewer write the screenshots
// in docs/ (light and dark, desktop and phone width); normal runs only
// check that they can be taken.
const screenshotsEnv = "CONVO_UPDATE_SCREENSHOTS"

// setColorScheme emulates prefers-color-scheme (light or dark).
func setColorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		t.Fatalf("emulate %s: %v", scheme, err)
	}
}

func TestBrowserViewer(t *testing.T) {
	ctx := browser(t)

	// A stand-in for a third party: it counts the requests that reach it.
	var thirdParty atomic.Int64
	png := testImagePNG(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		thirdParty.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	defer other.Close()

	var long []message.Message
	for i := range 450 {
		long = append(long, message.NewUserMessage(fmt.Sprintf("message number %d", i+1)))
	}
	answer := message.NewAssistantMessage("Here is the chart ![sales](" + other.URL + "/chart.png) and a plot:\n\n" +
		"```python\nimport math\nprint([math.sqrt(x) for x in range(10)])  # a long line of code that must scroll inside its box, not the page\n```\n\n" +
		"| city | temp |\n|---|---|\n| Paris | 18 |\n\nAn unbroken line: " + strings.Repeat("x", 300))
	answer.Model, answer.Usage = "gpt-4.1", &message.Usage{InputTokens: 1840, OutputTokens: 212}
	srv, dbPath := newTestViewer(t, 50,
		demoSession{id: "charts", valid: true, opts: session.CreateOptions{Owner: "dana", Title: "Quarterly charts"}, msgs: []message.Message{
			message.NewUserMessage("Show me the sales chart."),
			{Role: message.RoleUser, Parts: []message.Part{message.ImageURL{URL: other.URL + "/photo.png"}}},
			answer,
		}},
		demoSession{id: "long", valid: true, msgs: long},
		demoSession{id: "live", valid: true, msgs: []message.Message{message.NewUserMessage("Are you there?")}},
	)

	t.Run("remote images load only on a click", func(t *testing.T) {
		do(t, ctx, "open charts", chromedp.Navigate(srv.URL+"/s/charts"), chromedp.WaitVisible(chromedp.ID("conversation")), chromedp.Sleep(300*time.Millisecond))
		links := eval[int](t, ctx, `document.querySelectorAll("a.remote-image").length`)
		if n := thirdParty.Load(); n != 0 || links != 2 {
			t.Fatalf("on page load: %d requests to the third party, %d click-to-load links; want 0 and 2", n, links)
		}
		do(t, ctx, "click the image", chromedp.Click(chromedp.CSS(".md a.remote-image")))
		w := value(t, ctx, "loaded image", chromedp.Poll[int](`(() => { const i = document.querySelector("img.loaded-image"); return i && i.complete && i.naturalWidth; })()`))
		if n := thirdParty.Load(); n != 1 || w != 240 {
			t.Errorf("after one click: %d requests, image width %d; want 1 and 240", n, w)
		}
	})

	t.Run("raw view one click away", func(t *testing.T) {
		do(t, ctx, "open charts", chromedp.Navigate(srv.URL+"/s/charts"), chromedp.WaitVisible(chromedp.ID("conversation")))
		id := eval[string](t, ctx, `document.querySelectorAll("li.msg")[2].id`)
		if shown := eval[bool](t, ctx, `getComputedStyle(document.querySelector("#`+id+` pre.src")).display !== "none"`); shown {
			t.Fatal("raw text shown before the click")
		}
		do(t, ctx, "click raw", chromedp.Click(chromedp.CSS("#"+id+" label.raw-label")))
		raw := value(t, ctx, "raw text", chromedp.Text(chromedp.CSS("#"+id+" pre.src")))
		mdHidden := eval[bool](t, ctx, `getComputedStyle(document.querySelector("#`+id+` .md")).display === "none"`)
		if !strings.Contains(raw, "![sales](") || !strings.Contains(raw, "```python") || !mdHidden {
			t.Errorf("raw view %q, rendered hidden %v", raw, mdHidden)
		}
	})

	t.Run("load older", func(t *testing.T) {
		do(t, ctx, "open long", chromedp.Navigate(srv.URL+"/s/long"), chromedp.WaitVisible(chromedp.ID("older")))
		count := func() int { return eval[int](t, ctx, `document.querySelectorAll("li.msg").length`) }
		if n := count(); n != messagesPerPage {
			t.Fatalf("first page: %d messages", n)
		}
		do(t, ctx, "load older", chromedp.Click(chromedp.ID("older")))
		value(t, ctx, "400 messages", chromedp.Poll[bool](`document.querySelectorAll("li.msg").length === 400`))
		do(t, ctx, "load older again", chromedp.Click(chromedp.ID("older")), chromedp.WaitNotPresent(chromedp.ID("older")))
		first := eval[string](t, ctx, `document.querySelector("li.msg").id`)
		if n := count(); n != 450 || first != "m1" {
			t.Errorf("after loading everything: %d messages, first %s; want 450, m1", n, first)
		}
	})

	t.Run("live", func(t *testing.T) {
		do(t, ctx, "open live", chromedp.Navigate(srv.URL+"/s/live"), chromedp.WaitVisible(chromedp.ID("live")))
		b, err := openBackend(t.Context(), dbPath, "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		sess, err := b.store.Load(t.Context(), "live")
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.AddMessages(t.Context(), []message.Message{message.NewAssistantMessage("Yes, **here** I am.")}); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "the new message appears", chromedp.WaitVisible(chromedp.ID("m2")))
		text := value(t, ctx, "new message", chromedp.Text(chromedp.CSS("#m2 .md strong")))
		count := value(t, ctx, "count", chromedp.Text(chromedp.ID("message-count")))
		if text != "here" || count != "2" {
			t.Errorf("live message %q, count %q; want here, 2", text, count)
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		do(t, ctx, "open charts", chromedp.Navigate(srv.URL+"/s/charts"), chromedp.WaitVisible(chromedp.ID("conversation")))
		focused := func() string { return eval[string](t, ctx, `document.activeElement.id`) }
		var got []string
		for _, k := range []string{"j", "j", "k", "j", "j"} {
			do(t, ctx, "key "+k, chromedp.KeyEvent(k))
			got = append(got, focused())
		}
		if strings.Join(got, ",") != "m1,m2,m1,m2,m3" {
			t.Errorf("j j k j j focused %v; want m1,m2,m1,m2,m3", got)
		}
		do(t, ctx, "slash", chromedp.KeyEvent("/"))
		if f := focused(); f != "q" {
			t.Errorf("/ focused %q; want the search box", f)
		}
		do(t, ctx, "open the list", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("sessions")),
			chromedp.KeyEvent("j"), chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("conversation")))
		second := eval[string](t, ctx, `location.pathname`)
		if !strings.HasPrefix(second, "/s/") {
			t.Errorf("j j Enter on the list opened %s; want a session", second)
		}
	})

	t.Run("dark mode follows the system", func(t *testing.T) {
		bg := func() string {
			return eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
		}
		do(t, ctx, "open charts", chromedp.Navigate(srv.URL+"/s/charts"), chromedp.WaitVisible(chromedp.ID("conversation")))
		setColorScheme(t, ctx, "light")
		light := bg()
		setColorScheme(t, ctx, "dark")
		dark := bg()
		code := eval[string](t, ctx, `getComputedStyle(document.querySelector(".chroma")).backgroundColor`)
		setColorScheme(t, ctx, "light")
		if light != "rgb(246, 247, 249)" || dark != "rgb(15, 18, 24)" {
			t.Errorf("background light %s, dark %s; want rgb(246, 247, 249) and rgb(15, 18, 24)", light, dark)
		}
		if code == "rgb(255, 255, 255)" {
			t.Errorf("code block background stays white in dark mode")
		}
	})

	t.Run("a 390 px phone screen does not scroll sideways", func(t *testing.T) {
		do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
		defer do(t, ctx, "desktop", chromedp.EmulateViewport(1100, 900))
		for _, path := range []string{"/", "/s/charts", "/s/trip-paris", "/?q=umbrella", "/s/long"} {
			do(t, ctx, "open "+path, chromedp.Navigate(srv.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
			w := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]`)
			if w[0] > w[1] || w[1] != 390 {
				t.Errorf("%s at 390 px: document %d px wide in a %d px viewport (window %d)", path, w[0], w[1], w[2])
			}
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		shots := []struct {
			name, path, scheme string
			width, height      int64
		}{
			{"screenshot-conversation.png", "/s/trip-paris", "light", 1100, 900},
			{"screenshot-markdown-dark.png", "/s/charts", "dark", 1100, 900},
			{"screenshot-list.png", "/", "light", 1100, 700},
			{"screenshot-phone.png", "/s/charts", "light", 390, 844},
			{"screenshot-phone-dark.png", "/s/trip-paris", "dark", 390, 844},
		}
		for _, s := range shots {
			setColorScheme(t, ctx, s.scheme)
			do(t, ctx, s.name, chromedp.EmulateViewport(s.width, s.height), chromedp.Navigate(srv.URL+s.path), chromedp.WaitReady(chromedp.CSS("main")), chromedp.Sleep(200*time.Millisecond))
			shot := value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
			if len(shot) < 1000 {
				t.Errorf("%s: %d bytes", s.name, len(shot))
			}
			if os.Getenv(screenshotsEnv) == "1" {
				out := filepath.Join("..", "..", "docs", s.name)
				if err := os.WriteFile(out, shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", out)
			}
		}
		setColorScheme(t, ctx, "light")
		do(t, ctx, "desktop", chromedp.EmulateViewport(1100, 900))
	})
}
