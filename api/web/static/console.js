// The agent console (api/web/console): keyboard shortcuts, the shortcut dialog, and the queue kept up to date by
// polling /console/queue.json with If-None-Match. No inline scripts (the pages' CSP forbids them).
"use strict";
(function () {
  const dialog = document.getElementById("shortcuts");
  const rows = () => Array.from(document.querySelectorAll("#queue tr[data-ticket]"));
  let current = -1;

  function select(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row, i) => row.classList.toggle("selected", i === current));
    const link = all[current].querySelector("a");
    if (link) link.focus();
  }

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function showShortcuts() {
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.querySelectorAll("[data-shortcuts]").forEach((b) => b.addEventListener("click", showShortcuts));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || (dialog && dialog.open)) return;
    const all = rows();
    if (event.key === "j") { select(current + 1); event.preventDefault(); }
    else if (event.key === "k") { select(current - 1); event.preventDefault(); }
    else if (event.key === "Enter" && current >= 0 && all[current]) {
      window.location.href = "/console/tickets/" + all[current].dataset.ticket; event.preventDefault();
    } else if (event.key === "?") { showShortcuts(); event.preventDefault(); }
    else if (event.key === "r") {
      const reply = document.getElementById("reply");
      if (reply) { reply.focus(); event.preventDefault(); }
    } else if (event.key === "a") {
      const mine = document.getElementById("assign-me");
      if (mine) { mine.requestSubmit(); event.preventDefault(); return; }
      if (current >= 0 && all[current]) {
        const bulk = document.getElementById("bulk");
        all.forEach((row, i) => { row.querySelector("input[type=checkbox]").checked = i === current; });
        const button = bulk.querySelector("button[value=assign]");
        bulk.requestSubmit(button); event.preventDefault();
      }
    }
  });

  // Live queue: ask whether the page's tickets or counts changed; when they did, fetch the page and swap the table.
  const queue = document.getElementById("queue");
  if (!queue) return;
  let etag = queue.dataset.etag;
  const every = Number(queue.dataset.every || 15000);

  async function refresh() {
    const page = await fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    const table = fresh.getElementById("queue");
    if (table) {
      const selected = current >= 0 && rows()[current] ? rows()[current].dataset.ticket : null;
      queue.replaceChildren(...Array.from(table.childNodes).map((n) => document.importNode(n, true)));
      etag = table.dataset.etag;
      current = rows().findIndex((r) => r.dataset.ticket === selected);
      if (current >= 0) rows()[current].classList.add("selected");
    }
    fresh.querySelectorAll("[data-count]").forEach((c) => {
      const mine = document.querySelector(`[data-count="${c.dataset.count}"]`);
      if (mine) mine.textContent = c.textContent;
    });
  }

  async function poll() {
    try {
      const answer = await fetch(queue.dataset.poll, { headers: { "If-None-Match": etag, Accept: "application/json" },
                                                       credentials: "same-origin", cache: "no-cache" });
      if (answer.status === 200 && answer.headers.get("ETag") !== etag) await refresh();
    } finally {
      window.setTimeout(poll, every);
    }
  }
  window.setTimeout(poll, every);
})();
