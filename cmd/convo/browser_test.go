package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath returns the Chromium to drive, skipping the test when there
// is none (failing under CI=true, where .ci/install-chromium.sh installs
// it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CONVO_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s and CI=true: run .ci/install-chromium.sh", path)
		}
		t.Skipf("Chromium not found at %s: browser tests skipped (install with .ci/install-chromium.sh, or set CONVO_CHROMIUM)", path)
	}
	return path
}

// browser starts a headless Chromium with a fresh profile and returns a
// context for chromedp actions; it stops when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// A watchdog: a hung browser fails the test instead of hanging CI.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// do runs void actions, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs an action that returns a value, failing the test on error.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return value(t, ctx, expr, chromedp.Evaluate[T](expr))
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	srv, _ := newTestViewer(t, 3)

	t.Run("list and page", func(t *testing.T) {
		do(t, ctx, "open the list", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("sessions")))
		rows := eval[int](t, ctx, `document.querySelectorAll("tr.session").length`)
		first := value(t, ctx, "first id", chromedp.Text(chromedp.CSS("tr.session a.sid")))
		if rows != 3 || first != "damaged-middle" {
			t.Errorf("first page: %d rows, first %q; want 3, damaged-middle", rows, first)
		}
		do(t, ctx, "next page", chromedp.Click(chromedp.ID("next")), chromedp.WaitVisible(chromedp.ID("first")))
		ids := eval[[]string](t, ctx, `[...document.querySelectorAll("tr.session a.sid")].map(a => a.textContent)`)
		hasNext := eval[bool](t, ctx, `document.getElementById("next") !== null`)
		if len(ids) != 1 || ids[0] != "trip-paris" || hasNext {
			t.Errorf("second page: %v, next link %v; want [trip-paris] and none", ids, hasNext)
		}
	})

	t.Run("conversation with a tool call", func(t *testing.T) {
		do(t, ctx, "open trip-paris from the list",
			chromedp.Navigate(srv.URL+"/"),
			chromedp.Click(chromedp.ID("next")),
			chromedp.Click(chromedp.CSS(`a.sid[href="/s/trip-paris"]`)),
			chromedp.WaitVisible(chromedp.ID("conversation")))
		tool := value(t, ctx, "tool name", chromedp.Text(chromedp.CSS(".tool .call .tool-name")))
		args := value(t, ctx, "arguments", chromedp.Text(chromedp.CSS(".tool .call pre.args")))
		result := value(t, ctx, "result", chromedp.Text(chromedp.CSS(".tool .result pre.content")))
		if tool != "get_weather" || !strings.Contains(args, `"city": "Paris"`) || !strings.Contains(args, "\n") {
			t.Errorf("tool call %q with arguments %q; want get_weather, pretty-printed", tool, args)
		}
		if !strings.Contains(result, `"sky": "showers"`) {
			t.Errorf("result beside the call = %q", result)
		}
		if open := eval[bool](t, ctx, `document.querySelector("details.reasoning").open`); open {
			t.Error("reasoning is expanded; want collapsed")
		}
		imgWidth := value(t, ctx, "image", chromedp.Poll[int](`(() => { const i = document.querySelector("figure.image img"); return i && i.complete && i.naturalWidth; })()`))
		if imgWidth != 240 {
			t.Errorf("inline image natural width %d; want 240 (the PNG loaded)", imgWidth)
		}
		roles := eval[[]string](t, ctx, `[...document.querySelectorAll("li.msg")].map(li => li.className)`)
		want := []string{"msg item role-system", "msg item role-user", "msg item role-assistant", "msg item role-assistant"}
		if strings.Join(roles, ",") != strings.Join(want, ",") {
			t.Errorf("messages %v; want %v (the tool message shown with its call)", roles, want)
		}
		shot := value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
			t.Errorf("screenshot %v; want at least 800x600", b)
		}
	})

	t.Run("search", func(t *testing.T) {
		do(t, ctx, "search umbrella",
			chromedp.Navigate(srv.URL+"/"),
			chromedp.SendKeys(chromedp.ID("q"), "umbrella"),
			chromedp.Submit(chromedp.ID("q")),
			chromedp.WaitVisible(chromedp.ID("hits")))
		marks := eval[[]string](t, ctx, `[...document.querySelectorAll("#hits mark")].map(m => m.textContent.toLowerCase())`)
		if len(marks) < 2 || marks[0] != "umbrella" {
			t.Errorf("highlighted words %v; want umbrella in each hit", marks)
		}
		link := value(t, ctx, "hit link", chromedp.AttributeValue(chromedp.CSS("#hits a.hit-session"), "href"))
		if !strings.HasPrefix(link.Value, "/s/") {
			t.Errorf("hit links to %q", link.Value)
		}
	})

	t.Run("script injection shows as text", func(t *testing.T) {
		for _, path := range []string{"/s/support-42", "/", "/?q=umbrella"} {
			do(t, ctx, "open "+path, chromedp.Navigate(srv.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
			pwned := eval[string](t, ctx, `typeof window.pwned`)
			scripts := eval[int](t, ctx, `[...document.querySelectorAll("script")].filter(s => s.getAttribute("src") !== "/static/app.js").length`)
			injected := eval[int](t, ctx, `document.querySelectorAll('img[src="x"], img[onerror]').length`)
			if pwned != "undefined" || scripts != 0 || injected != 0 {
				t.Errorf("%s: window.pwned is %s, %d script elements besides app.js, %d injected images; want undefined, 0, 0", path, pwned, scripts, injected)
			}
			text := value(t, ctx, "text", chromedp.Text(chromedp.CSS("main")))
			if path == "/s/support-42" && (!strings.Contains(text, xssScript) || !strings.Contains(text, xssImg)) {
				t.Errorf("%s: the payload is not shown as text:\n%s", path, text)
			}
		}
	})
}
