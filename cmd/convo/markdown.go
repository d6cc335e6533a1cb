package main

import (
	"bytes"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// The viewer renders the Markdown of message text in two stages, so that
// neither alone has to be right for the page to be safe:
//
//  1. goldmark (CommonMark + GitHub tables, strikethrough, task lists and
//     autolinks) turns it into HTML, without html.WithUnsafe: links to
//     javascript:, vbscript:, file: and data: other than images
//     lose their target (html.IsDangerousURL). Node renderers of ours replace the defaults:
//     HTML in the text is shown as text (escaped), never as markup; a
//     fenced code block is highlighted by chroma with CSS classes (no
//     inline style, which the page's CSP forbids); and an image becomes a
//     link that loads it only when clicked (see remoteImageClass).
//  2. bluemonday's UGC policy sanitises that HTML: only known elements and
//     attributes, links restricted to http, https and mailto with
//     rel="nofollow noreferrer noopener", no <img> at all, class names of
//     plain letters only.

// remoteImageClass marks the link that stands for an image of a message:
// the viewer loads an image from elsewhere only when the reader clicks
// (app.js swaps the link for the image), since loading it tells a third
// party that someone is reading the conversation.
const remoteImageClass = "remote-image"

var (
	markdown = goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(mdRenderers{}, 100))),
	)
	mdPolicy = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.AllowAttrs("class").Matching(regexp.MustCompile(`^[a-z][a-z0-9 -]*$`)).OnElements("span", "pre", "code", "a", "div")
		p.AllowAttrs("type", "checked", "disabled").OnElements("input")
		p.AllowElements("input")
		p.RequireNoReferrerOnLinks(true)
		p.RequireNoFollowOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		p.AllowURLSchemes("http", "https", "mailto")
		p.RequireParseableURLs(true)
		return p
	}()
	chromaFormatter = chromahtml.New(chromahtml.WithClasses(true))
)

// maxHighlightBytes bounds the code that chroma highlights; a longer block
// is shown plain (its lexers are regular expressions, and a message is
// folded at foldBytes anyway).
const maxHighlightBytes = 64 << 10

// renderMarkdown returns text rendered as sanitised HTML.
func renderMarkdown(text string) template.HTML {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(text), &buf); err != nil {
		// goldmark fails only when writing fails; show the text as text.
		return template.HTML("<pre>" + template.HTMLEscapeString(text) + "</pre>")
	}
	return template.HTML(mdPolicy.SanitizeBytes(buf.Bytes())) // sanitised by mdPolicy
}

// mdRenderers renders fenced code blocks with highlighting and images as
// click-to-load links.
type mdRenderers struct{}

// RegisterFuncs registers the renderers of fenced code blocks and images.
func (mdRenderers) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, renderCodeBlock)
	reg.Register(ast.KindImage, renderImage)
	reg.Register(ast.KindRawHTML, renderRawHTML)
	reg.Register(ast.KindHTMLBlock, renderHTMLBlock)
}

// renderRawHTML shows inline HTML of the text as text: what the writer (a
// person or a model) wrote stays visible, and none of it is markup.
func renderRawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.RawHTML)
	for i := range n.Segments.Len() {
		seg := n.Segments.At(i)
		_, _ = w.WriteString(template.HTMLEscapeString(string(seg.Value(source))))
	}
	return ast.WalkSkipChildren, nil
}

// renderHTMLBlock shows a block of HTML as preformatted text.
func renderHTMLBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.HTMLBlock)
	_, _ = w.WriteString(`<pre class="html-source">`)
	for i := range n.Lines().Len() {
		seg := n.Lines().At(i)
		_, _ = w.WriteString(template.HTMLEscapeString(string(seg.Value(source))))
	}
	if n.HasClosure() {
		_, _ = w.WriteString(template.HTMLEscapeString(string(n.ClosureLine.Value(source))))
	}
	_, _ = w.WriteString("</pre>\n")
	return ast.WalkSkipChildren, nil
}

func renderCodeBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.FencedCodeBlock)
	var code strings.Builder
	for i := range n.Lines().Len() {
		seg := n.Lines().At(i)
		code.Write(seg.Value(source))
	}
	lang := string(n.Language(source))
	var lexer chroma.Lexer
	if lang != "" && code.Len() <= maxHighlightBytes {
		lexer = lexers.Get(lang)
	}
	if lexer != nil {
		if it, err := chroma.Coalesce(lexer).Tokenise(nil, code.String()); err == nil {
			var out bytes.Buffer
			if err := chromaFormatter.Format(&out, styles.Fallback, it); err == nil {
				_, _ = w.Write(out.Bytes())
				return ast.WalkSkipChildren, nil
			}
		}
	}
	_, _ = w.WriteString(`<pre class="chroma"><code>`)
	_, _ = w.WriteString(template.HTMLEscapeString(code.String()))
	_, _ = w.WriteString("</code></pre>\n")
	return ast.WalkSkipChildren, nil
}

func renderImage(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.Image)
	var alt strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if t, ok := c.(*ast.Text); ok {
			alt.Write(t.Segment.Value(source))
		}
	}
	_, _ = w.WriteString(remoteImageLink(string(n.Destination), alt.String()))
	return ast.WalkSkipChildren, nil
}

// remoteImageLink returns the HTML that stands for an image at u: a link
// that app.js turns into the image on a click, for http(s) URLs, and a
// plain note for anything else.
func remoteImageLink(u, alt string) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return `<span class="note">[image: ` + template.HTMLEscapeString(oneLine(alt, 80)) + `]</span>`
	}
	label := "image"
	if alt = oneLine(alt, 80); alt != "" {
		label += " “" + alt + "”"
	}
	return `<a class="` + remoteImageClass + `" href="` + template.HTMLEscapeString(pu.String()) + `">` +
		template.HTMLEscapeString(label+" from "+pu.Host) + ` (click to load)</a>`
}

// codeCSS is the stylesheet of highlighted code: chroma's classes in a
// light style, and in a dark one when the system prefers dark.
var codeCSS = func() string {
	var b strings.Builder
	_ = chromaFormatter.WriteCSS(&b, styles.Get("github"))
	b.WriteString("@media (prefers-color-scheme: dark) {\n")
	_ = chromaFormatter.WriteCSS(&b, styles.Get("github-dark"))
	b.WriteString("}\n")
	return b.String()
}()
