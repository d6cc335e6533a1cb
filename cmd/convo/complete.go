package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/convo-dev/convo/session"
)

// version returns what convo --version prints after "convo ": the module
// version from the build information, then, when the binary was built
// from a checkout, the VCS revision, its time and whether the tree had
// uncommitted changes, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build information)"
	}
	return formatVersion(bi)
}

// formatVersion is version for the given build information.
func formatVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var extra []string
	if rev != "" {
		r := "revision " + rev
		if at != "" {
			r += " of " + at
		}
		if modified {
			r += ", with uncommitted changes"
		}
		extra = append(extra, r)
	}
	if bi.GoVersion != "" {
		extra = append(extra, bi.GoVersion)
	}
	if len(extra) > 0 {
		v += " (" + strings.Join(extra, ", ") + ")"
	}
	return v
}

// completionTimeout bounds the store lookups behind a shell completion, so
// a slow or unreachable database cannot hang the user's shell.
const completionTimeout = 3 * time.Second

// completeSessionIDs completes session ids from the store named by --db (or
// CONVO_DB): the ids starting with what was typed, with their titles as
// descriptions, leaving out ids already on the command line. cobra calls it
// through the hidden "convo __complete" command that the completion
// scripts run. The store is opened read-only; any error means no
// completions (logged to cobra's completion debug file), never a hung or
// broken shell.
func (a *app) completeSessionIDs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if a.db == "" {
		a.db = os.Getenv("CONVO_DB")
	}
	if a.db == "" || (toComplete != "" && session.ValidateID(toComplete) != nil) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	b, err := a.openRead(ctx)
	if err != nil {
		cobra.CompDebugln("convo: session ids: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer b.close()
	page, err := session.List(ctx, b.store, session.ListQuery{IDPrefix: toComplete, Limit: session.MaxListLimit})
	if err != nil {
		cobra.CompDebugln("convo: session ids: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, in := range page.Sessions {
		if slices.Contains(args, in.ID) || strings.ContainsAny(in.ID, " \t\n") {
			continue
		}
		if t := oneLine(in.Title, 60); t != "" {
			out = append(out, cobra.CompletionWithDesc(in.ID, t))
		} else {
			out = append(out, in.ID)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeOwners completes --owner values: the owners, starting with what
// was typed, of the store's most recently active sessions (one page of
// session.MaxListLimit, so that a store of millions answers as fast as a
// small one), in order of their latest activity.
func (a *app) completeOwners(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if a.db == "" {
		a.db = os.Getenv("CONVO_DB")
	}
	if a.db == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	b, err := a.openRead(ctx)
	if err != nil {
		cobra.CompDebugln("convo: owners: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer b.close()
	page, err := session.List(ctx, b.store, session.ListQuery{Limit: session.MaxListLimit})
	if err != nil {
		cobra.CompDebugln("convo: owners: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, in := range page.Sessions {
		if in.Owner != "" && strings.HasPrefix(in.Owner, toComplete) && !slices.Contains(out, in.Owner) &&
			!strings.ContainsAny(in.Owner, " \t\n") {
			out = append(out, in.Owner)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// completeOneSessionID completes the single session id a command takes.
func (a *app) completeOneSessionID(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.completeSessionIDs(cmd, args, toComplete)
}

// flagError adds a suggestion to an unknown flag error: "unknown flag:
// --limt (did you mean --limit?)". cobra suggests mistyped commands itself.
func flagError(cmd *cobra.Command, err error) error {
	const unknown = "unknown flag: --"
	msg := err.Error()
	i := strings.Index(msg, unknown)
	if i < 0 {
		return err
	}
	typed, _, _ := strings.Cut(msg[i+len(unknown):], "=")
	if s := suggestFlag(cmd, typed); len(s) > 0 {
		return fmt.Errorf("%w (did you mean %s?)", err, strings.Join(s, " or "))
	}
	if cmd.HasParent() {
		return fmt.Errorf("%w (see convo %s --help)", err, cmd.Name())
	}
	return fmt.Errorf("%w (see convo --help)", err)
}

// suggestFlag returns the flags of cmd (its own and the inherited ones)
// whose names are within two edits of typed or start with it, as --name.
func suggestFlag(cmd *cobra.Command, typed string) []string {
	if typed == "" {
		return nil
	}
	var out []string
	visit := func(f *pflag.Flag) {
		if f.Hidden || slices.Contains(out, "--"+f.Name) {
			return
		}
		if editDistance(typed, f.Name) <= 2 || (len(typed) >= 2 && strings.HasPrefix(f.Name, typed)) {
			out = append(out, "--"+f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
