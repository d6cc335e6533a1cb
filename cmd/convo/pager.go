package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// paged runs render and shows what it writes: through the user's pager
// when stdout is a terminal and the output is taller than it, and straight
// to stdout otherwise (a pipe, a file, --no-pager, PAGER set to "", or a
// short output). render writes through a termWriter, so what reaches the
// pager is as safe as what reaches the terminal.
func (a *app) paged(noPager bool, render func(w *termWriter)) error {
	_, height := terminalSize(a.rawStdout)
	pager := pagerCommand()
	if noPager || height == 0 || pager == "" {
		render(a.stdout)
		return nil
	}
	var buf bytes.Buffer
	tw := newTermWriter(&buf)
	tw.color = a.stdout.color
	render(tw)
	if bytes.Count(buf.Bytes(), []byte("\n")) < height {
		_, err := a.rawStdout.Write(buf.Bytes())
		return err
	}
	cmd := exec.Command("sh", "-c", pager)
	cmd.Stdin = &buf
	cmd.Stdout = a.rawStdout
	cmd.Stderr = a.rawStderr
	cmd.Env = os.Environ()
	// As git does: less keeps colours (R), leaves the text on the screen
	// (X) and quits at once when it fits (F), unless the user set LESS.
	if _, ok := os.LookupEnv("LESS"); !ok {
		cmd.Env = append(cmd.Env, "LESS=FRX")
	}
	if _, ok := os.LookupEnv("LV"); !ok {
		cmd.Env = append(cmd.Env, "LV=-c")
	}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("pager %q: %w", pager, err)
		}
		// The shell did not start: show the text without a pager.
		_, werr := a.rawStdout.Write(buf.Bytes())
		return werr
	}
	return nil
}

// pagerCommand returns the pager to run through sh -c: $PAGER when it is
// set (set to "" or "cat": none), else less when it is installed, else
// none ("").
func pagerCommand() string {
	if p, ok := os.LookupEnv("PAGER"); ok {
		p = strings.TrimSpace(p)
		if p == "cat" {
			return ""
		}
		return p
	}
	if _, err := exec.LookPath("less"); err == nil {
		return "less"
	}
	return ""
}
