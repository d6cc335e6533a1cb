package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

func (a *app) showCommand() *cobra.Command {
	var reasoning bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print a conversation as a person reads it",
		Long: `show prints a session's messages in order: each role, its text, tool calls
with pretty-printed arguments followed by their results, images and binary
attachments noted, reasoning folded to one line (unless --reasoning), and
parts that a repair synthesized marked [synthesized].

With --json it writes the session and its messages in the message JSON of
package message.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := session.ValidateID(id); err != nil {
				return fmt.Errorf("show: %w", err)
			}
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
			msgs, err := sess.GetMessages(ctx, nil)
			if err != nil {
				return fmt.Errorf("show: %w", err)
			}
			info := session.Info{ID: id, MessageCount: int64(len(msgs))}
			if d, ok := b.store.(session.Describer); ok {
				if info, err = d.Info(ctx, id); err != nil {
					return fmt.Errorf("show: %w", err)
				}
			}
			if a.asJSON {
				raw := make([]json.RawMessage, len(msgs))
				for i, m := range msgs {
					if raw[i], err = m.MarshalJSON(); err != nil {
						return fmt.Errorf("show: %w", err)
					}
				}
				return writeJSON(a.stdout, struct {
					Session  sessionJSON       `json:"session"`
					Messages []json.RawMessage `json:"messages"`
				}{toSessionJSON(info), raw})
			}
			printConversation(a.stdout, info, buildView(msgs), reasoning)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reasoning, "reasoning", false, "print reasoning in full instead of one folded line")
	a.addJSONFlag(cmd)
	return cmd
}

// printConversation writes v for a terminal.
func printConversation(w io.Writer, info session.Info, v convView, fullReasoning bool) {
	fmt.Fprintf(w, "session %s\n", info.ID)
	if info.Owner != "" {
		fmt.Fprintf(w, "owner   %s\n", info.Owner)
	}
	if info.Title != "" {
		fmt.Fprintf(w, "title   %s\n", info.Title)
	}
	for _, k := range sortedKeys(info.Metadata) {
		fmt.Fprintf(w, "meta    %s=%s\n", k, info.Metadata[k])
	}
	fmt.Fprintf(w, "%s, created %s, updated %s\n", plural(info.MessageCount, "message", "messages"), formatTime(info.CreatedAt), formatTime(info.UpdatedAt))
	for _, m := range v.Messages {
		if m.Empty {
			continue // tool results already shown beside their calls
		}
		head := fmt.Sprintf("\n[%d] %s", m.Index, m.Msg.Role)
		if m.Msg.Model != "" {
			head += " (" + m.Msg.Model + ")"
		}
		head += " · " + formatTime(m.Msg.CreatedAt)
		fmt.Fprintln(w, head)
		for _, p := range m.Parts {
			printPart(w, p, fullReasoning)
		}
	}
}

func printPart(w io.Writer, p partView, fullReasoning bool) {
	const ind = "    "
	synth := func(b bool) string {
		if b {
			return " [synthesized]"
		}
		return ""
	}
	switch p.Kind {
	case "text":
		fmt.Fprintln(w, indent(p.Text, ind))
	case "reasoning":
		switch {
		case p.Redacted:
			fmt.Fprintln(w, ind+"(reasoning, redacted)")
		case fullReasoning:
			fmt.Fprintln(w, ind+"(reasoning)")
			fmt.Fprintln(w, indent(p.Text, ind+"  "))
		default:
			fmt.Fprintf(w, "%s(reasoning) %s\n", ind, oneLine(p.Text, 72))
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
		fmt.Fprintf(w, "%s→ tool call %s (%s)%s\n", ind, p.Name, p.CallID, synth(p.Synthesized))
		fmt.Fprintln(w, indent(p.Args, ind+"    "))
		if r := p.Result; r != nil {
			printResult(w, *r, ind+"  ", synth(r.Synthesized))
		} else {
			fmt.Fprintf(w, "%s  ← (no result)\n", ind)
		}
	case "result":
		printResult(w, p, ind, synth(p.Synthesized)+" for call "+p.CallID)
	default:
		fmt.Fprintf(w, "%s[part of unknown type %q] %s\n", ind, p.Name, oneLine(p.Text, 60))
	}
}

func printResult(w io.Writer, r partView, ind, note string) {
	kind := "result"
	if r.IsError {
		kind = "error"
	}
	fmt.Fprintf(w, "%s← %s %s%s\n", ind, kind, r.Name, note)
	fmt.Fprintln(w, indent(r.Text, ind+"    "))
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

// indent prefixes every line of s with prefix, after removing control
// characters (message text must not drive the terminal).
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n") // the terminal writer shows what is unsafe
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
