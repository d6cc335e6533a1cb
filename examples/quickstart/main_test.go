package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), filepath.Join(t.TempDir(), "convo.db"), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"user      What's the weather in Oslo?",
		`assistant -> get_weather({"city":"Oslo"})`,
		`tool      <- {"temp_c":4,"sky":"light rain"}`,
		"assistant It's 4 °C with light rain in Oslo.",
		`user-123   "Weather in Oslo" 4 messages`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
