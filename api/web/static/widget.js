/*
 * deskmate chat widget: <script src="https://deskmate.example.com/widget.js" defer></script>
 *
 * Plain JavaScript, no dependencies. Builds a launcher button and a chat panel inside a Shadow DOM,
 * so host-page styles and ours never meet. Talks to the deskmate chat gateway at the script's own
 * origin. Server text is only ever inserted as text nodes (never innerHTML): the bot's text is a safe subset
 * of Markdown built as DOM nodes, and a link in it is kept only when the browser's URL parser reads it as
 * http(s) without user info to deskmate or a host of the message's citations and links.
 *
 * Attributes of the script tag (all optional):
 *   data-deskmate-identity  signed identity of the signed-in employee (from the intranet's backend)
 *   data-deskmate-title     panel title (default "IT Help")
 *   data-deskmate-storage   "session" (default: the conversation lasts as long as the tab) or "local"
 *   data-deskmate-poll      seconds between checks for ticket updates while the panel is open (default 15; 0: never)
 *   data-deskmate-client    "mobile" when the page runs as an installed app or on a phone (the employee portal sets
 *                           it, api/web/static/portal.js); the conversation's tickets then carry source MOBILE
 */
(function () {
  "use strict";

  var MAX_CHARS = 1000;
  var GATEWAY_ACTION = "deskmate:";
  var STORAGE_KEY = "deskmate.widget.v1";
  var CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  var CHEVRON_ICON = "M6.4 8.6 12 14.2l5.6-5.6L19 10l-7 7-7-7z";
  var MESSAGES = {
    welcome: "Hi{name}! I'm deskmate, the IT service desk assistant. Tell me what's wrong or what you need.",
    unreachable: "I can't reach the service desk right now. Check your connection and try again in a moment.",
    expired: "Your previous conversation has expired, so I started a new one.",
    failed: "Something went wrong on our side. Please try again.",
  };

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script || window.__deskmateWidget) return;
  window.__deskmateWidget = true;

  var config = {
    origin: new URL(script.src, document.baseURI).origin,
    identity: script.getAttribute("data-deskmate-identity") || null,
    title: script.getAttribute("data-deskmate-title") || "IT Help",
    storage: script.getAttribute("data-deskmate-storage") === "local" ? "localStorage" : "sessionStorage",
    pollSeconds: Math.max(0, Number(script.getAttribute("data-deskmate-poll") || 15) || 0),
    mobile: script.getAttribute("data-deskmate-client") === "mobile",
  };
  var state = { conversationId: null, token: null, employee: null, busy: false, opened: false, lastId: 0, shown: {} };
  var ui = {};

  /* ---------- small DOM helpers ---------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  /**
   * The URL if it is absolute http(s) without user info ("name@" before the host), else null (drops javascript:,
   * data:, relative and protocol-relative URLs…). The browser's own parser reads it: the host checked is the host
   * a click would open.
   */
  function safeUrl(value) {
    try {
      var url = new URL(String(value));
      var web = url.protocol === "http:" || url.protocol === "https:";
      return web && !url.username && !url.password ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  /** The host of a safe URL as the browser reads it (lower case, punycode, no trailing dot), else null. */
  function linkHost(value) {
    var url = safeUrl(value);
    return url ? new URL(url).hostname.replace(/\.$/, "") : null;
  }

  /**
   * Hosts the links in a bot message's text may go to: deskmate's own and those of the message's citations and
   * links (the server names them). The server's answer filter allows links to the cited articles' hosts only.
   */
  function allowedHosts(message) {
    var named = [config.origin].concat((message.citations || []).concat(message.links || []).map(function (l) {
      return l && l.url;
    }));
    return named.map(linkHost).filter(Boolean);
  }

  function link(title, url, className) {
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: className || "", text: title });
  }

  /* ---------- bot text: a safe subset of Markdown, built as DOM nodes (never HTML) ---------- */

  // `code` | **bold** | *italic* | [title](url) | a bare http(s) URL (it runs to white space or one of <>"'`()[],
  // as the server's link filter reads it: "https://a.example*@b.example" is one URL, to b.example)
  var INLINE = /`([^`\n]+)`|\*\*(?=\S)([^*\n]*?\S)\*\*|\*(?=[^\s*])([^*\n]*?[^\s*])\*|\[([^\]\n]{1,200})\]\(([^)\s]{1,2000})\)|\bhttps?:\/\/[^\s<>"'`()[\]]+/g;
  var TRAILING = /[.,;:!?*]+$/;
  var LIST_ITEM = /^\s*(?:[-*+]|\d{1,3}[.)])\s+/;
  var QUOTE = /^\s*>\s?/;

  /** One line of text → nodes: emphasis, inline code, and links to ``hosts`` (others stay text). */
  function inline(text, hosts) {
    var fragment = document.createDocumentFragment();
    var pattern = new RegExp(INLINE.source, "g");
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var whole = match[0];
      if (match[1] !== undefined) fragment.appendChild(el("code", { text: match[1] }));
      else if (match[2] !== undefined) fragment.appendChild(el("strong", {}, [inline(match[2], hosts)]));
      else if (whole.charAt(0) === "*") fragment.appendChild(el("em", {}, [inline(whole.slice(1, -1), hosts)]));
      else if (match[4] !== undefined) {
        var target = hosts.indexOf(linkHost(match[5])) >= 0 ? safeUrl(match[5]) : null;
        fragment.appendChild(target ? link(match[4], target) : document.createTextNode(whole));
      } else {
        var shown = whole.replace(TRAILING, "");
        var url = hosts.indexOf(linkHost(shown)) >= 0 ? safeUrl(shown) : null;
        fragment.appendChild(url ? link(shown, url) : document.createTextNode(shown));
        pattern.lastIndex = match.index + shown.length;
      }
      last = pattern.lastIndex;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  /** Consecutive lines that ``test`` accepts, from ``lines[at]`` on. */
  function run(lines, at, test) {
    var out = [];
    while (at + out.length < lines.length && test(lines[at + out.length])) out.push(lines[at + out.length]);
    return out;
  }

  function isText(line) {
    return Boolean(line.trim()) && !QUOTE.test(line) && !LIST_ITEM.test(line);
  }

  /**
   * Bot text → nodes: paragraphs with line breaks, "- " / "1. " lists, "> " quotes, and ``inline`` within lines.
   * Only text nodes and a fixed set of elements are made; nothing the server sends is parsed as HTML.
   */
  function markdown(text, hosts) {
    var fragment = document.createDocumentFragment();
    var lines = String(text || "").split(/\r\n|\r|\n/);
    var i = 0;
    while (i < lines.length) {
      var block;
      if (!lines[i].trim()) {
        i += 1;
        continue;
      } else if (QUOTE.test(lines[i])) {
        block = run(lines, i, function (l) { return QUOTE.test(l); });
        fragment.appendChild(el("blockquote", {}, [markdown(block.map(function (l) { return l.replace(QUOTE, ""); }).join("\n"), hosts)]));
      } else if (LIST_ITEM.test(lines[i])) {
        var ordered = /^\s*\d/.test(lines[i]);
        block = run(lines, i, function (l) { return LIST_ITEM.test(l) && /^\s*\d/.test(l) === ordered; });
        fragment.appendChild(el(ordered ? "ol" : "ul", {}, block.map(function (l) {
          return el("li", {}, [inline(l.replace(LIST_ITEM, ""), hosts)]);
        })));
      } else {
        block = run(lines, i, isText);
        var paragraph = el("p");
        block.forEach(function (l, n) {
          if (n) paragraph.appendChild(el("br"));
          paragraph.appendChild(inline(l, hosts));
        });
        fragment.appendChild(paragraph);
      }
      i += block.length;
    }
    return fragment;
  }

  /* ---------- storage: resume after a reload ---------- */

  /**
   * A short fingerprint of who the identity names, so a different signed-in person never resumes this chat.
   * Identities are "<payload>.<timestamp>.<signature>" and re-signed on every page view: only the payload counts.
   */
  function fingerprint(identity) {
    var value = identity || "";
    var cut = value.lastIndexOf(".", value.lastIndexOf(".") - 1);
    if (cut > 0) value = value.slice(0, cut);
    var hash = 2166136261;
    for (var i = 0; i < (value || "").length; i++) hash = Math.imul(hash ^ value.charCodeAt(i), 16777619);
    return (hash >>> 0).toString(36);
  }

  function save() {
    try {
      window[config.storage].setItem(STORAGE_KEY, JSON.stringify({
        conversationId: state.conversationId, token: state.token, employee: state.employee,
        who: fingerprint(config.identity), opened: state.opened,
      }));
    } catch (e) { /* storage disabled: the chat still works, it just won't survive a reload */ }
  }

  function load() {
    try {
      var saved = JSON.parse(window[config.storage].getItem(STORAGE_KEY) || "null");
      if (saved && saved.conversationId && saved.who === fingerprint(config.identity)) return saved;
    } catch (e) { /* unreadable: start afresh */ }
    return null;
  }

  function forget() {
    state.conversationId = state.token = state.employee = null;
    save();
  }

  /* ---------- gateway API ---------- */

  /** Calls the gateway; resolves {status, body}; rejects with {offline: true} when unreachable. */
  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    if (state.token) headers["X-Chat-Session"] = state.token;
    return fetch(config.origin + "/api/v1/chat/conversations" + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
      credentials: "omit", mode: "cors",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, body: data, retryAfter: response.headers.get("Retry-After") };
      });
    }, function () {
      throw { offline: true };
    });
  }

  function startConversation() {
    var body = { channel: "web" };
    if (config.identity) body.identity = config.identity;
    if (config.mobile) body.client = "mobile";
    state.token = null;
    return api("POST", "", body).then(function (res) {
      if (res.status !== 201) throw res;
      state.conversationId = res.body.conversation_id;
      state.token = res.body.session_token;
      state.lastId = 0;
      state.shown = {};
      state.employee = res.body.employee;
      save();
    });
  }

  /** Runs ``call`` in the current conversation; on 401 (expired session) starts a new one and retries once. */
  function inConversation(call) {
    var ready = state.conversationId ? Promise.resolve() : startConversation();
    return ready.then(call).then(function (res) {
      if (res.status !== 401) return res;
      forget();
      addNotice(MESSAGES.expired);
      return startConversation().then(call);
    });
  }

  /* ---------- rendering ---------- */

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  /** A message: the user's own text as typed; the bot's as safe Markdown with links to ``hosts`` only. */
  function addBubble(direction, text, extra, hosts) {
    var who = direction === "user" ? "You" : "deskmate";
    var content = direction === "user" ? document.createTextNode(String(text || ""))
      : markdown(text, hosts || allowedHosts({}));
    var bubble = el("div", { className: "bubble" }, [content]);
    var item = el("div", { className: "msg msg-" + direction }, [el("span", { className: "sr-only", text: who + ": " }), bubble]);
    (extra || []).forEach(function (node) { if (node) item.appendChild(node); });
    ui.log.insertBefore(item, ui.typing.parentNode === ui.log ? ui.typing : null);
    scrollToEnd();
    return item;
  }

  function addNotice(text, kind) {
    var item = el("div", { className: "notice" + (kind ? " notice-" + kind : ""), text: text });
    ui.log.insertBefore(item, ui.typing.parentNode === ui.log ? ui.typing : null);
    scrollToEnd();
  }

  function linkList(links) {
    var items = (links || []).map(function (l) {
      var url = safeUrl(l.url);
      return url ? el("li", {}, [link(l.title || url, url, "chip-link")]) : null;
    }).filter(Boolean);
    return items.length ? el("ul", { className: "links", "aria-label": "Links" }, items) : null;
  }

  function citationList(citations) {
    if (!citations || !citations.length) return null;
    var items = citations.map(function (c) {
      var url = safeUrl(c.url);
      var label = "[" + c.n + "] " + (c.title || "");
      return el("li", {}, [url ? link(label, url) : document.createTextNode(label)]);
    });
    return el("div", { className: "citations" }, [
      el("p", { className: "citations-title", text: "Sources" }), el("ol", {}, items),
    ]);
  }

  function quickReplies(buttons) {
    if (!buttons || !buttons.length) return null;
    var group = el("div", { className: "quick-replies", role: "group", "aria-label": "Suggested replies" });
    buttons.forEach(function (b) {
      group.appendChild(el("button", {
        type: "button", className: "quick-reply", text: b.title,
        onclick: function () { chooseReply(b); },
      }));
    });
    return group;
  }

  function retireQuickReplies() {
    Array.prototype.forEach.call(ui.log.querySelectorAll(".quick-replies"), function (group) { group.remove(); });
  }

  function ticketBadge(number) {
    return number ? el("p", { className: "ticket", text: "Ticket " + number }) : null;
  }

  /** Remembers a message as shown: a poll for updates (``after`` the newest) never shows it twice. */
  function seen(m) {
    if (m && m.id) {
      state.shown[m.id] = true;
      state.lastId = Math.max(state.lastId, m.id);
    }
  }

  function addBotMessage(m, withButtons) {
    seen(m);
    addBubble("bot", m.text, [
      ticketBadge(m.ticket_number), linkList(m.links), citationList(m.citations),
      withButtons ? quickReplies(m.buttons) : null,
    ], allowedHosts(m));
  }

  function renderReplies(messages) {
    retireQuickReplies();
    (messages || []).forEach(function (m) { addBotMessage(m, true); });
  }

  /** A user message that is a button payload is shown with the button's title, as when it was clicked. */
  function shownText(message, previous) {
    var buttons = (previous && previous.buttons) || [];
    for (var i = 0; i < buttons.length; i++) if (buttons[i].payload === message.text) return buttons[i].title;
    return message.text;
  }

  function renderTranscript(messages) {
    messages.forEach(function (m, i) {
      if (m.direction === "user") seen(m), addBubble("user", shownText(m, messages[i - 1]));
      else addBotMessage(m, i === messages.length - 1);
    });
  }

  function showError(res) {
    if (res && res.offline) return addNotice(MESSAGES.unreachable, "error");
    var detail = (res && res.body && (res.body.detail || res.body.title)) || MESSAGES.failed;
    if (res && res.status === 429 && res.retryAfter) detail += " (try again in " + res.retryAfter + " s)";
    addNotice(detail, "error");
  }

  function setBusy(busy) {
    state.busy = busy;
    ui.send.disabled = busy;
    ui.form.setAttribute("aria-busy", String(busy));
    if (busy) {
      ui.log.appendChild(ui.typing);
      scrollToEnd();
      return;
    }
    if (ui.typing.parentNode) ui.typing.remove();
    if (ui.queued) {  // Enter was pressed while the widget was busy: send it now, after what the caller renders
      ui.queued = false;
      Promise.resolve().then(sendInput);
    }
  }

  /* ---------- actions ---------- */

  /** Sends ``text`` to the bot; ``shown`` is what the user sees as their message (a button's title). */
  function send(text, shown) {
    if (state.busy) return Promise.resolve(false);
    retireQuickReplies();
    addBubble("user", shown || text);
    setBusy(true);
    return inConversation(function () {
      return api("POST", "/" + state.conversationId + "/messages", { text: text });
    }).then(function (res) {
      setBusy(false);
      if (res.status !== 200) return showError(res), false;
      renderReplies(res.body.messages);
      return true;
    }, function (err) {
      setBusy(false);
      showError(err);
      return false;
    });
  }

  /** Gateway actions (payload "deskmate:…") are calls to the gateway, not text for the bot. */
  function gatewayAction(action, shown) {
    if (action !== "open_ticket") return addNotice(MESSAGES.failed, "error");
    retireQuickReplies();
    addBubble("user", shown);
    setBusy(true);
    return inConversation(function () {
      return api("POST", "/" + state.conversationId + "/tickets", { reason: "user_request" });
    }).then(function (res) {
      setBusy(false);
      if (res.status !== 201) return showError(res);
      renderReplies(res.body.messages);
    }, function (err) {
      setBusy(false);
      showError(err);
    });
  }

  function chooseReply(button) {
    if (state.busy) return;
    ui.input.focus();
    // "deskmate:open_ticket" is a call of its own; other gateway payloads (e.g. "deskmate:kb_helpful:12",
    // feedback on a knowledge answer) go through the messages endpoint like text.
    if (button.payload === GATEWAY_ACTION + "open_ticket") gatewayAction("open_ticket", button.title);
    else send(button.payload, button.title);
  }

  function submit(event) {
    event.preventDefault();
    if (state.busy) ui.queued = Boolean(ui.input.value.trim());  // kept in the box and sent when the bot is free
    else sendInput();
  }

  function sendInput() {
    var text = ui.input.value.trim();
    if (!text || state.busy) return;
    ui.input.value = "";
    updateCounter();
    send(text).then(function (ok) {
      if (!ok && !ui.input.value) {  // give the text back so the user can resend it
        ui.input.value = text;
        updateCounter();
      }
    });
  }

  function updateCounter() {
    var used = ui.input.value.length;
    ui.counter.textContent = used + " / " + MAX_CHARS;
    ui.counter.classList.toggle("counter-near", used >= MAX_CHARS * 0.9);
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
  }

  /** The stored conversation's transcript; a new conversation when the stored one is gone or expired. */
  function resume() {
    return api("GET", "/" + state.conversationId + "/messages").then(function (res) {
      if (res.status === 200) return { messages: res.body.messages || [] };
      forget();
      return startConversation().then(function () { return { messages: [], expired: true }; });
    });
  }

  /** Ticket updates (an agent's reply, a status change) that arrived since: shown while the panel is open. */
  function poll() {
    if (!state.opened || state.busy || !state.conversationId || document.visibilityState === "hidden") return;
    api("GET", "/" + state.conversationId + "/messages?after=" + state.lastId).then(function (res) {
      if (res.status !== 200 || state.busy) return;
      (res.body.messages || []).forEach(function (m) {
        if (state.shown[m.id]) return;
        if (m.direction !== "bot") { seen(m); return; }  // the employee's own words from another tab: not repeated
        var asks = m.buttons && m.buttons.length > 0;  // an update that asks something (a CSAT rating) brings its buttons
        if (asks) retireQuickReplies();
        addBotMessage(m, asks);
      });
    }, function () { /* offline: the next poll tries again */ });
  }

  /** First opening of the panel: start (or resume) the conversation, greet, replay the transcript. */
  function begin() {
    setBusy(true);
    var ready = state.conversationId ? resume() : startConversation().then(function () { return { messages: [] }; });
    return ready.then(function (result) {
      setBusy(false);
      greet();
      if (result.expired) addNotice(MESSAGES.expired);
      renderTranscript(result.messages);
    }, function (err) {
      setBusy(false);
      greet();
      showError(err);
    });
  }

  function greet() {
    var name = state.employee && state.employee.name ? " " + state.employee.name.split(" ")[0] : "";
    addBubble("bot", MESSAGES.welcome.replace("{name}", name));
  }

  function open(options) {
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", "Close " + config.title + " chat");
    ui.launcher.replaceChildren(icon(CHEVRON_ICON));
    ui.root.classList.add("is-open");
    if (!ui.started) {
      ui.started = true;
      begin();
    }
    state.opened = true;
    save();
    if (!options || options.focus !== false) ui.input.focus();
  }

  function close() {
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", "Open " + config.title + " chat");
    ui.launcher.replaceChildren(icon(CHAT_ICON));
    ui.root.classList.remove("is-open");
    state.opened = false;
    save();
    ui.launcher.focus();
  }

  /* ---------- building the widget ---------- */

  function icon(path) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }

  function build() {
    var host = el("div", { id: "deskmate-widget" });
    var shadow = host.attachShadow({ mode: "open" });
    var stylesheet = el("link", { rel: "stylesheet", href: config.origin + "/widget.css" });
    ui.root = el("div", { className: "dm-root", hidden: "" });
    stylesheet.addEventListener("load", function () { ui.root.hidden = false; });
    stylesheet.addEventListener("error", function () { ui.root.hidden = false; });

    ui.launcher = el("button", {
      type: "button", className: "launcher", "aria-label": "Open " + config.title + " chat",
      "aria-expanded": "false", "aria-controls": "dm-panel", onclick: function () { ui.panel.hidden ? open() : close(); },
    }, [icon(CHAT_ICON)]);

    ui.log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation", tabindex: "0" });
    ui.typing = el("div", { className: "msg msg-bot typing" }, [
      el("span", { className: "sr-only", text: "deskmate is typing…" }),
      el("div", { className: "bubble dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    ]);
    ui.input = el("textarea", {
      id: "dm-input", className: "input", rows: "1", maxlength: String(MAX_CHARS), placeholder: "Describe your problem…",
      "aria-describedby": "dm-counter", oninput: updateCounter,
      onkeydown: function (e) { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e); },
    });
    ui.counter = el("span", { id: "dm-counter", className: "counter", "aria-live": "off" });
    ui.send = el("button", { type: "submit", className: "send", "aria-label": "Send message" },
      [icon("M3 20.5 21 12 3 3.5 3 10l12 2-12 2z")]);
    ui.form = el("form", { className: "composer", onsubmit: submit }, [
      el("label", { for: "dm-input", className: "sr-only", text: "Message to the IT service desk" }),
      ui.input, ui.send, ui.counter,
    ]);

    var heading = el("div", { className: "heading" }, [
      el("h2", { id: "dm-title", text: config.title }),
      el("p", { text: "deskmate · automated assistant" }),
    ]);
    var closeButton = el("button", { type: "button", className: "close", "aria-label": "Close chat", onclick: close },
      [icon("M6 6l12 12M18 6 6 18")]);
    ui.panel = el("section", { id: "dm-panel", className: "panel", role: "dialog", "aria-labelledby": "dm-title", hidden: "" },
      [el("div", { className: "header" }, [heading, closeButton]), ui.log, ui.form]);
    ui.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.stopPropagation(); close(); } });

    ui.root.appendChild(ui.launcher);  // first in the DOM: Tab goes launcher → panel, like a disclosure
    ui.root.appendChild(ui.panel);
    shadow.appendChild(stylesheet);
    shadow.appendChild(ui.root);
    document.body.appendChild(host);
    updateCounter();
  }

  function init() {
    build();
    var saved = load();
    if (saved) {
      state.conversationId = saved.conversationId;
      state.token = saved.token;
      state.employee = saved.employee;
      if (saved.opened) open({ focus: false });  // never steal the focus on page load
    }
    if (config.pollSeconds > 0) {
      window.setInterval(poll, config.pollSeconds * 1000);
      document.addEventListener("visibilitychange", poll);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
