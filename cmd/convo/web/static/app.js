// convo viewer: keyboard navigation, loading older messages, live updates,
// click-to-load images and session totals. The pages work without it.
"use strict";

(function () {
  // Keyboard: j/k or ArrowDown/ArrowUp move between messages, sessions or
  // search hits; Enter opens the focused session or hit; / focuses search.
  function items() {
    return Array.from(document.querySelectorAll(".item"));
  }
  function current() {
    const a = document.activeElement;
    return a && a.closest ? a.closest(".item") : null;
  }
  function focusItem(el) {
    if (!el) return;
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
    el.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
    if (typing) {
      if (e.key === "Escape") t.blur();
      return;
    }
    const all = items();
    const cur = current();
    const i = cur ? all.indexOf(cur) : -1;
    switch (e.key) {
      case "/":
        e.preventDefault();
        const q = document.getElementById("q");
        if (q) { q.focus(); q.select(); }
        break;
      case "j":
      case "ArrowDown":
        if (!all.length) return;
        e.preventDefault();
        focusItem(all[Math.min(i + 1, all.length - 1)]);
        break;
      case "k":
      case "ArrowUp":
        if (!all.length) return;
        e.preventDefault();
        focusItem(all[Math.max(i - 1, 0)]);
        break;
      case "Enter":
        if (cur && t === cur) {
          const link = cur.querySelector("a.sid, a.hit-session");
          if (link) { e.preventDefault(); link.click(); }
        }
        break;
    }
  });

  // Images from other hosts load only on a click: until then no request
  // leaves for them.
  document.addEventListener("click", function (e) {
    const a = e.target.closest && e.target.closest("a.remote-image");
    if (!a) return;
    e.preventDefault();
    const img = document.createElement("img");
    img.referrerPolicy = "no-referrer";
    img.alt = a.textContent.replace(/ \(click to load\)$/, "");
    img.className = "loaded-image";
    img.src = a.href;
    a.replaceWith(img);
  });

  function parse(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  // "Load older messages" inserts the previous page above, keeping the
  // reader's place.
  const older = document.getElementById("older");
  const list = document.getElementById("conversation");
  if (older && list) {
    older.addEventListener("click", function (e) {
      const src = older.dataset.fragment;
      if (!src) return;
      e.preventDefault();
      older.textContent = "Loading…";
      fetch(src, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        const next = r.headers.get("X-Convo-Older") || "";
        return r.text().then(function (html) { return { html: html, next: next }; });
      }).then(function (res) {
        const before = document.documentElement.scrollHeight;
        list.prepend(parse(res.html));
        window.scrollBy(0, document.documentElement.scrollHeight - before);
        if (res.next) {
          older.dataset.fragment = res.next;
          older.href = res.next.replace(/^\/older\//, "/s/");
          older.textContent = "Load older messages";
        } else {
          older.remove();
        }
      }).catch(function (err) {
        older.textContent = "Load older messages (failed: " + err.message + ")";
      });
    });
  }

  // Live: messages appended to the session appear at the end.
  if (list && list.dataset.events && window.EventSource) {
    const count = document.getElementById("message-count");
    const live = document.getElementById("live");
    const normal = live ? live.textContent : "";
    const say = function (text) {
      if (!live) return;
      live.textContent = text;
      live.classList.toggle("delayed", text !== normal);
    };
    const url = new URL(list.dataset.events, window.location.href);
    let es = null;
    const connect = function () {
      es = new EventSource(url.pathname + url.search);
      es.addEventListener("open", function () { say(normal); });
      es.addEventListener("message", function (e) {
        url.searchParams.set("after", e.lastEventId);
        if (document.getElementById("m" + e.lastEventId)) return;
        const atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
        list.append(parse(e.data));
        if (count) count.textContent = String(Number(count.textContent) + 1);
        if (atEnd) window.scrollTo(0, document.documentElement.scrollHeight);
      });
      // The session's title (sent when the stream starts and whenever it
      // changes): the heading and the page's title follow it.
      es.addEventListener("info", function (e) {
        let title;
        try { title = JSON.parse(e.data).title; } catch (_) { return; }
        if (typeof title !== "string") return;
        const id = document.getElementById("session-id");
        const name = title || (id ? id.textContent : "");
        const h1 = document.querySelector("#info h1");
        if (h1 && h1.textContent !== name) h1.textContent = name;
        document.title = name + " · convo";
      });
      // The store's change feed failed: the viewer polls instead.
      es.addEventListener("delayed", function (e) {
        say("Live updates delayed: " + e.data + ".");
      });
      // A refused stream (503: too many live views open) is closed by
      // the browser for good; try again later, from the last message.
      es.addEventListener("error", function () {
        if (es.readyState !== EventSource.CLOSED) return;
        say("Live updates paused: the viewer is busy; retrying shortly.");
        window.setTimeout(connect, 15000 + Math.random() * 15000);
      });
    };
    connect();
    // Close the stream when the page goes, so that it does not hold one
    // of the browser's few connections to the viewer.
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // Totals of a long session are summed on request, after the page shows.
  const totals = document.getElementById("totals");
  if (totals && totals.dataset.src) {
    fetch(totals.dataset.src, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      totals.replaceChildren(parse(html));
    }).catch(function () {});
  }
})();
