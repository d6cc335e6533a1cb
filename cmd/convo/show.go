package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// showOptions are the flags of show that shape the text.
type showOptions struct {
	reasoning bool // print reasoning in full
	full      bool // print long texts in full instead of their first lines
	width     int  // fold lines at this many columns; 0: do not fold
	maxLines  int  // lines of one text shown before it is cut (without full)
}

// Default layout of show when the width is not known.
const (
	defaultFoldWidth = 100
	defaultMaxLines  = 40
)

func (a *app) showCommand() *cobra.Command {
	var (
		o       showOptions
		tail    int
		noPager bool
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print a conversation as a person reads it",
		Long: `show prints a session's messages in order: each role, its text, tool calls
with pretty-printed arguments followed by their results, images and binary
attachments noted, reasoning folded to one line (unless --reasoning), and
parts that a repair synthesized marked [synthesized].

Long lines are folded at the terminal's width (100 columns when stdout is
not a terminal and COLUMNS is not set; --width 0 does not fold), and of a
text longer than 50 lines only the first 40 are printed, with a note of how
many follow; --full prints every text whole. --tail N prints only the last N messages.
On a terminal, output longer than the screen goes through $PAGER (less when
PAGER is not set; PAGER= turns it off, as does --no-pager); never when
stdout is not a terminal. Roles are coloured on a terminal unless NO_COLOR
is set.

With --json it writes the session (in the shape of ls --json) and its
messages in the message JSON of package message.

A stored message that cannot be read (a corrupt row) hides nothing else:
show notes it in its place (with --json, lists it under "unreadable"
instead of in "messages"), prints the rest, and exits with status 1 naming
it; convo doctor --repair moves such rows aside.`,
		Example: `  convo show --db chat.db trip-paris
  convo show --db chat.db --tail 20 standup-log
  convo show --db chat.db --full --no-pager trip-paris > trip.txt`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeOneSessionID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := session.ValidateID(id); err != nil {
				return fmt.Errorf("show: %w", err)
			}
			if tail < 0 {
				return fmt.Errorf("show: --tail must be 0 (all) or more, not %d", tail)
			}
			if o.width < 0 {
				return fmt.Errorf("show: --width must be 0 (no folding) or more, not %d", o.width)
			}
			if !cmd.Flags().Changed("width") {
				o.width = a.foldWidth()
			}
			o.maxLines = defaultMaxLines
			b, err := a.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			ctx := cmd.Context()
			sess, err := b.store.Load(ctx, id)
			if err != nil {
				if errors.Is(err, session.ErrNotFound) {
					return fmt.Errorf("show: no session %q", id)
				}
				return fmt.Errorf("show: %w", err)
			}
			var limit *int
			if tail > 0 {
				limit = session.Limit(tail)
			}
			msgs, err := sess.GetMessages(ctx, limit)
			// A row that cannot be read: show the others, each unreadable
			// row noted in its place, then fail naming them.
			var es []session.Entry
			var bad map[int64]error
			if rg, ok := sess.(session.Ranger); ok && errors.Is(err, session.ErrCorrupt) {
				if es, bad, err = readAll(ctx, rg, tail); err == nil {
					msgs = make([]message.Message, len(es))
					for i, e := range es {
						msgs[i] = e.Message
					}
				}
			}
			if err != nil {
				return fmt.Errorf("show: %w", err)
			}
			info := session.Info{ID: id, MessageCount: int64(len(msgs))}
			if d, ok := b.store.(session.Describer); ok {
				if info, err = d.Info(ctx, id); err != nil {
					return fmt.Errorf("show: %w", err)
				}
			}
			unreadable := unreadableError(id, bad)
			if a.asJSON {
				raw := make([]json.RawMessage, 0, len(msgs))
				var rows []corruptRow
				for i, m := range msgs {
					if es != nil {
						if err, ok := bad[es[i].Seq]; ok {
							row, _ := asCorruptRow(err)
							rows = append(rows, row)
							continue
						}
					}
					b, err := m.MarshalJSON()
					if err != nil {
						return fmt.Errorf("show: %w", err)
					}
					raw = append(raw, b)
				}
				if err := writeJSON(a.stdout, struct {
					Session  sessionJSON       `json:"session"`
					Messages []json.RawMessage `json:"messages"`
					// Unreadable lists the stored rows that could not be
					// read, left out of Messages.
					Unreadable []corruptRow `json:"unreadable,omitempty"`
				}{toSessionJSON(info), raw, rows}); err != nil {
					return err
				}
				if unreadable != nil {
					return fmt.Errorf("show: %w", unreadable)
				}
				return nil
			}
			v := buildView(msgs)
			for i := range es {
				if err, ok := bad[es[i].Seq]; ok {
					v.Messages[i].Seq, v.Messages[i].Unreadable = es[i].Seq, describeUnreadable(err)
				}
			}
			// With --tail the view starts inside the session: number the
			// messages by their place in the whole session.
			skipped := max(int(info.MessageCount)-len(msgs), 0)
			for i := range v.Messages {
				v.Messages[i].Index += skipped
			}
			err = a.paged(noPager, func(w *termWriter) {
				printConversation(w, info, v, skipped, o)
			})
			if err != nil {
				return fmt.Errorf("show: %w", err)
			}
			if unreadable != nil {
				return fmt.Errorf("show: %w", unreadable)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.reasoning, "reasoning", false, "print reasoning in full instead of one folded line")
	f.IntVar(&tail, "tail", 0, "print only the last N messages (0: all)")
	f.BoolVar(&o.full, "full", false, "print long texts whole (without it, a text over 50 lines shows its first 40)")
	f.IntVar(&o.width, "width", 0, "fold lines at this many columns (default: the terminal's width, else $COLUMNS, else 100; 0: do not fold)")
	f.BoolVar(&noPager, "no-pager", false, "never page the output")
	a.addJSONFlag(cmd)
	return cmd
}

// foldWidth is the width show folds at: the terminal's, else $COLUMNS,
// else defaultFoldWidth.
func (a *app) foldWidth() int {
	if w, _ := terminalSize(a.rawStdout); w > 0 {
		return w
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return defaultFoldWidth
}

// roleColor is the colour of a role's heading in show.
func roleColor(r message.Role) string {
	switch r {
	case message.RoleUser:
		return sgrBold + ";" + sgrCyan
	case message.RoleAssistant:
		return sgrBold + ";" + sgrGreen
	case message.RoleSystem:
		return sgrBold + ";" + sgrPurple
	case message.RoleTool:
		return sgrBold + ";" + sgrYellow
	case message.RoleSummary:
		return sgrBold + ";" + sgrBlue
	}
	return sgrBold
}

// printConversation writes v for a terminal. skipped is the number of
// older messages left out (show --tail).
func printConversation(w *termWriter, info session.Info, v convView, skipped int, o showOptions) {
	label := func(name, value string) {
		w.styled(sgrDim, name)
		fmt.Fprintln(w, value)
	}
	label("session ", info.ID)
	if info.Owner != "" {
		label("owner   ", info.Owner)
	}
	if info.Title != "" {
		label("title   ", info.Title)
	}
	for _, k := range sortedKeys(info.Metadata) {
		label("meta    ", k+"="+info.Metadata[k])
	}
	// A fork: its parent and fork point, and a mark after the last message
	// it inherited (see session.Forker).
	forkMark := func() {
		w.styled(sgrDim, "\n--- forked from "+info.ParentID+" here: the messages above come from it ---\n")
	}
	if info.ParentID != "" {
		at := "at message " + info.ForkMessageID
		if info.ForkMessageID == "" {
			at = "before its first message"
		}
		label("fork of ", info.ParentID+" "+at)
	}
	fmt.Fprintf(w, "%s, created %s, updated %s\n", plural(info.MessageCount, "message", "messages"), formatTime(info.CreatedAt), formatTime(info.UpdatedAt))
	if info.ParentID != "" && info.ForkMessageID == "" && skipped == 0 {
		w.styled(sgrDim, "\n--- forked from "+info.ParentID+" before its first message: every message below is the fork's own ---\n")
	}
	if skipped > 0 {
		w.styled(sgrDim, fmt.Sprintf("(the last %d; %s before them not shown)\n", len(v.Messages), plural(skipped, "message", "messages")))
	}
	for _, m := range v.Messages {
		atFork := info.ParentID != "" && info.ForkMessageID != "" && m.Msg.ID == info.ForkMessageID
		if m.Unreadable != "" {
			fmt.Fprintf(w, "\n[%d] ", m.Index)
			w.styled(sgrRed, fmt.Sprintf("unreadable (seq %d): %s; %s\n", m.Seq, m.Unreadable, repairHint))
			if atFork {
				forkMark()
			}
			continue
		}
		if m.Empty {
			if atFork {
				forkMark()
			}
			continue // tool results already shown beside their calls
		}
		fmt.Fprintf(w, "\n[%d] ", m.Index)
		w.styled(roleColor(m.Msg.Role), string(m.Msg.Role))
		if m.Msg.Model != "" {
			fmt.Fprint(w, " ("+m.Msg.Model+")")
		}
		fmt.Fprintln(w, " · "+formatTime(m.Msg.CreatedAt))
		for _, p := range m.Parts {
			printPart(w, p, o)
		}
		if atFork {
			forkMark()
		}
	}
}

func printPart(w *termWriter, p partView, o showOptions) {
	const ind = "    "
	synth := func(b bool) string {
		if b {
			return " [synthesized]"
		}
		return ""
	}
	switch p.Kind {
	case "text":
		printBlock(w, p.Text, ind, o)
	case "reasoning":
		switch {
		case p.Redacted:
			w.styled(sgrDim, ind+"(reasoning, redacted)\n")
		case p.SignatureOnly:
			w.styled(sgrDim, ind+"(reasoning signature, no text)\n")
		case o.reasoning:
			w.styled(sgrDim, ind+"(reasoning)\n")
			printBlock(w, p.Text, ind+"  ", o)
		default:
			const head = ind + "(reasoning) "
			n := 72 // the folded line fits the fold width, when there is one
			if o.width > 0 {
				n = max(min(n, o.width-displayWidth(head)), 20)
			}
			w.styled(sgrDim, head+clipWidth(p.Text, n)+"\n")
		}
	case "image":
		u := p.ImageURL
		if strings.HasPrefix(u, "data:") {
			fmt.Fprintf(w, "%s[image %s, %s%s]\n", ind, p.MIMEType, humanSize(p.Size), nameNote(p.Name))
		} else {
			fmt.Fprintf(w, "%s[image %s]\n", ind, u)
		}
	case "binary":
		fmt.Fprintf(w, "%s[binary %s, %s%s]\n", ind, p.MIMEType, humanSize(p.Size), nameNote(p.Name))
	case "call":
		w.styled(sgrYellow, fmt.Sprintf("%s→ tool call %s (%s)%s", ind, p.Name, p.CallID, synth(p.Synthesized)))
		fmt.Fprintln(w)
		printBlock(w, p.Args, ind+"    ", o)
		if r := p.Result; r != nil {
			printResult(w, *r, ind+"  ", synth(r.Synthesized), o)
		} else {
			w.styled(sgrRed, ind+"  ← (no result)\n")
		}
	case "result":
		printResult(w, p, ind, synth(p.Synthesized)+" for call "+p.CallID, o)
	case "extra":
		w.styled(sgrDim, fmt.Sprintf("%s[kept from the upgrade: %s of tool call %s]\n", ind, p.Name, p.CallID))
	default:
		fmt.Fprintf(w, "%s[part of unknown type %q] %s\n", ind, p.Name, clipWidth(p.Text, 60))
	}
}

func printResult(w *termWriter, r partView, ind, note string, o showOptions) {
	kind, color := "result", sgrYellow
	if r.IsError {
		kind, color = "error", sgrRed
	}
	w.styled(color, fmt.Sprintf("%s← %s %s%s", ind, kind, r.Name, note))
	fmt.Fprintln(w)
	printBlock(w, r.Text, ind+"    ", o)
}

// printBlock writes a text, every line indented by prefix and folded to
// o.width, and, unless o.full, only its first o.maxLines lines followed by
// a note of how many more there are. The text is made terminal-safe before
// it is measured, so the folding matches what is shown.
func printBlock(w *termWriter, text, prefix string, o showOptions) {
	text = termSafe(strings.TrimRight(text, "\n"))
	width := 0
	if o.width > 0 {
		width = max(o.width-displayWidth(prefix), 20)
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, fold(l, width)...)
		if !o.full && o.maxLines > 0 && len(lines) > o.maxLines+o.maxLines/4 {
			break // enough to know that it is cut; the rest is counted below
		}
	}
	hidden := 0
	// Cut only when what is left out is worth a note: a text a few lines
	// over the limit is shown whole.
	if !o.full && o.maxLines > 0 && len(lines) > o.maxLines+o.maxLines/4 {
		hidden = countFolded(text, width) - o.maxLines
		lines = lines[:o.maxLines]
	}
	for _, l := range lines {
		if l == "" {
			_, _ = io.WriteString(w, "\n") // no trailing spaces on a blank line
			continue
		}
		_, _ = io.WriteString(w, prefix+l+"\n")
	}
	if hidden > 0 {
		noun := "lines"
		if hidden == 1 {
			noun = "line"
		}
		w.styled(sgrDim, fmt.Sprintf("%s… %d more %s (--full prints it all)\n", prefix, hidden, noun))
	}
}

// countFolded returns how many lines text takes folded to width.
func countFolded(text string, width int) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if width <= 0 || len(l) <= width { // bytes >= columns for the safe text, so it fits
			n++
			continue
		}
		n += len(fold(l, width))
	}
	return n
}

func nameNote(name string) string {
	if name == "" {
		return ""
	}
	return ", " + name
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
