// Portier dashboard: keeps the server-rendered page current by polling the
// admin API, and sends the drain, maintenance and ready calls with the
// admin token. Plain JavaScript, no build step, no other origin: the page's
// Content-Security-Policy allows nothing else. Problems are shown on the
// page, never only in the console.
"use strict";

(function () {
  const DASH = "\u2014";
  const TOKEN_KEY = "portier.adminToken";
  const body = document.body;
  const pollMS = Number(body.dataset.pollMs) || 2000;
  let askToken = body.dataset.tokenRequired === "true";

  const $ = (sel) => document.querySelector(sel);

  // h builds an element; attributes with null, undefined or false values
  // are left out, and children are nodes or text (never parsed as HTML).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined) continue;
      el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }

  // ---- formatting, the same as the server's first view

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function agoWords(iso) {
    const t = Date.parse(iso);
    if (isNaN(t) || t < Date.UTC(2000, 0, 1)) return DASH;
    const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  function fullTime(iso) {
    const d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toLocaleString();
  }

  function clock(d) {
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  }

  function fmtRate(v) {
    if (v === null) return DASH;
    return v < 10 ? v.toFixed(1) : String(Math.round(v));
  }

  function fmtPct(v) {
    if (v === null) return DASH;
    if (v === 0) return "0%";
    if (v < 0.001) return "<0.1%";
    return v < 0.1 ? (v * 100).toFixed(1) + "%" : Math.round(v * 100) + "%";
  }

  function fmtMS(v) {
    if (v === null) return DASH;
    if (v < 10) return v.toFixed(1) + " ms";
    if (v < 1000) return Math.round(v) + " ms";
    return (v / 1000).toFixed(2) + " s";
  }

  function badge(state, word) {
    return h("span", { class: "state state-" + state }, word || state);
  }

  // ---- rates from the difference between two polls

  // samples are the counters of the last polls, oldest first, as
  // {t, counters: Map key -> {requests, errors, duration}}; prev is the one
  // this poll's rates are measured from: the newest at least about one
  // interval old, so that an extra poll right after a button press does
  // not measure a few milliseconds.
  let samples = [];
  let prev = null;

  function pickPrev(now) {
    let base = samples[0] || null;
    for (const s of samples) if (now - s.t >= pollMS * 0.9) base = s;
    return base;
  }

  function keepSample(now, counts) {
    samples.push({ t: now, counters: counts });
    samples = samples.filter((s) => now - s.t <= pollMS * 4);
  }

  function counters(o) {
    return { requests: num(o.requests), errors: num(o.errors), duration: num(o.duration_seconds) };
  }

  // rates is requests/s, error ratio and mean latency (ms) since the last
  // poll; null where a counter is missing, went backwards (a reload replaced
  // it) or nothing was answered.
  function rates(key, cur, now) {
    const r = { rps: null, ratio: null, latency: null };
    const old = prev && prev.counters.get(key);
    const dt = prev ? (now - prev.t) / 1000 : 0;
    if (!old || !(dt > 0) || cur.requests === null || old.requests === null) return r;
    const n = cur.requests - old.requests;
    if (n < 0) return r;
    r.rps = n / dt;
    if (n === 0) return r;
    if (cur.errors !== null && old.errors !== null && cur.errors >= old.errors) {
      r.ratio = (cur.errors - old.errors) / n;
    }
    if (cur.duration !== null && old.duration !== null && cur.duration >= old.duration) {
      r.latency = ((cur.duration - old.duration) / n) * 1000;
    }
    return r;
  }

  function rateCells(r) {
    return [
      h("td", { "data-label": "Req/s", class: "num" }, fmtRate(r.rps)),
      h("td", { "data-label": "Errors", class: r.ratio ? "num bad" : "num" }, fmtPct(r.ratio)),
      h("td", { "data-label": "Latency", class: "num" }, fmtMS(r.latency)),
    ];
  }

  // ---- keeping tables in place

  // patch makes tbody hold rows, keeping the rows and cells that did not
  // change, so that focus and hover survive an update.
  function patch(tbody, rows) {
    const old = new Map();
    for (const tr of tbody.children) if (tr.dataset.key) old.set(tr.dataset.key, tr);
    const next = rows.map((row) => {
      const was = old.get(row.dataset.key);
      old.delete(row.dataset.key);
      if (!was || was.children.length !== row.children.length) return row;
      for (const a of Array.from(was.attributes)) if (!row.hasAttribute(a.name)) was.removeAttribute(a.name);
      for (const a of Array.from(row.attributes)) if (was.getAttribute(a.name) !== a.value) was.setAttribute(a.name, a.value);
      const cells = Array.from(row.children);
      Array.from(was.children).forEach((cell, i) => {
        if (cell.outerHTML !== cells[i].outerHTML) cell.replaceWith(cells[i]);
      });
      return was;
    });
    next.forEach((row, i) => {
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    });
    while (tbody.children.length > next.length) tbody.lastElementChild.remove();
  }

  function emptyRow(cols, text, cls) {
    return h("tr", { class: "empty" + (cls ? " " + cls : ""), "data-key": "empty" }, h("td", { colspan: cols }, text));
  }

  // ---- the views

  function serverRow(b, s, now, counts) {
    const key = b.name + "/" + s.name;
    const c = counters(s);
    counts.set("s:" + key, c);
    const overlay = s.admin && s.admin !== "ready";
    const since = (overlay ? "health " + s.health + " " : "") + "for " + agoWords(s.since);
    const check = s.reason || (s.health === "pending" ? "not checked yet" : DASH);
    const weight = s.weight !== s.base_weight ? s.weight + " of " + s.base_weight : String(s.weight);
    const button = (action, word, current) =>
      h("button", { type: "button", "data-action": action, "data-backend": b.name, "data-server": s.name, disabled: s.admin === current }, word);
    return h("tr", { "data-key": "s:" + key, "data-server": key, "data-state": s.state },
      h("td", { "data-label": "Server", class: "name" }, h("strong", {}, s.name), h("span", { class: "addr" }, s.address)),
      h("td", { "data-label": "State", class: "state-cell" }, badge(s.state), h("span", { class: "since", title: fullTime(s.since) }, since)),
      h("td", { "data-label": "Last check", class: "check" }, check),
      h("td", { "data-label": "Last error", class: "lasterr" }, lastError(s)),
      h("td", { "data-label": "Weight", class: "num" }, weight),
      h("td", { "data-label": "In flight", class: "num" }, String(num(s.in_flight) ?? DASH)),
      rateCells(rates("s:" + key, c, now)),
      h("td", { "data-label": "Actions", class: "actions" },
        button("drain", "Drain", "draining"), button("maintenance", "Maintenance", "maintenance"), button("ready", "Ready", "ready")));
  }

  function lastError(s) {
    if (!s.last_error) return DASH;
    const parts = [h("span", { class: "bad" }, s.last_error)];
    if (s.last_error_at) parts.push(h("span", { class: "sub", title: fullTime(s.last_error_at) }, agoWords(s.last_error_at) + " ago"));
    const n = num(s.consecutive_failures);
    if (n) parts.push(h("span", { class: "sub" }, n + " in a row"));
    return parts;
  }

  function renderServers(st, now, counts) {
    const rows = [];
    let up = 0, down = 0, total = 0;
    for (const b of st.backends || []) {
      rows.push(h("tr", { class: "group", "data-key": "b:" + b.name },
        h("th", { colspan: 10, scope: "rowgroup" }, b.name + " ", h("span", { class: "muted" }, b.balance))));
      for (const s of b.servers || []) {
        rows.push(serverRow(b, s, now, counts));
        total++;
        if (s.state === "up") up++;
        if (s.state === "down") down++;
      }
    }
    patch($("#servers"), rows);
    tile("#tile-servers", up + " of " + total, down > 0 ? "bad" : up === total ? "good" : "");
    document.title = down > 0 ? "(" + down + " down) Portier" : "Portier";
  }

  function renderRoutes(st, now, counts) {
    let ready = 0;
    const routes = st.routes || [];
    const rows = routes.map((r) => {
      const c = counters(r);
      counts.set("r:" + r.name, c);
      if (r.ready) ready++;
      return h("tr", { "data-key": "r:" + r.name },
        h("td", { "data-label": "Route", class: "name" }, h("strong", {}, r.name)),
        h("td", { "data-label": "Backends" }, (r.backends || []).join(", ")),
        h("td", { "data-label": "Status" }, r.ready ? badge("ready") : h("span", { class: "state state-down", title: r.reason || "" }, "cannot serve")),
        rateCells(rates("r:" + r.name, c, now)));
    });
    patch($("#routes"), rows.length ? rows : [emptyRow(6, "No routes.")]);
    tile("#tile-routes", ready + " of " + routes.length, ready < routes.length ? "bad" : "good");
  }

  function renderListeners(st) {
    let conns = null;
    const rows = (st.listeners || []).map((l) => {
      const n = num(l.active_connections);
      if (n !== null) conns = (conns || 0) + n;
      return h("tr", { "data-key": "l:" + l.name },
        h("td", { "data-label": "Listener", class: "name" }, h("strong", {}, l.name)),
        h("td", { "data-label": "Address", class: "mono" }, l.address),
        h("td", { "data-label": "Protocol" }, l.protocol),
        h("td", { "data-label": "Connections", class: "num" }, n === null ? DASH : String(n)));
    });
    patch($("#listeners"), rows.length ? rows : [emptyRow(4, "No listeners.")]);
    tile("#tile-conns", conns === null ? DASH : String(conns), "");
  }

  // renderTotals sums the routes' counters, or the servers' when the
  // routes have none.
  function renderTotals(st, now, counts) {
    const sum = (items) => {
      const t = { requests: null, errors: null, duration: null };
      for (const it of items) {
        const c = counters(it);
        for (const k of Object.keys(t)) if (c[k] !== null) t[k] = (t[k] || 0) + c[k];
      }
      return t;
    };
    let total = sum(st.routes || []);
    if (total.requests === null) total = sum((st.backends || []).flatMap((b) => b.servers || []));
    counts.set("total", total);
    const r = rates("total", total, now);
    tile("#tile-rps", fmtRate(r.rps), "");
    tile("#tile-errors", fmtPct(r.ratio), r.ratio ? "bad" : r.ratio === 0 ? "good" : "");
    tile("#tile-latency", fmtMS(r.latency), "");
  }

  function tile(sel, value, cls) {
    const el = $(sel);
    el.className = "tile" + (cls ? " " + cls : "");
    el.querySelector(".value").textContent = value;
  }

  function renderBanners(st) {
    const out = [];
    for (const r of st.routes || []) {
      if (!r.ready) out.push(h("p", { class: "banner error" }, h("strong", {}, "Route " + r.name + " cannot serve:"), " " + (r.reason || "")));
    }
    for (const f of st.network || []) {
      const level = f.level === "warn" ? "warn" : "info";
      out.push(h("p", { class: "banner " + level }, h("span", { class: "level" }, level), h("strong", {}, f.code || "network"),
        f.address ? " " + f.address : "", ": " + (f.message || "")));
    }
    $("#banners").replaceChildren(...out);
  }

  function renderErrors(res) {
    const tbody = $("#errors");
    if (res instanceof Error) {
      const text = res.status === 404 ? "This Portier does not keep a log of upstream errors." : "Cannot load the recent errors: " + res.message;
      patch(tbody, [emptyRow(7, text)]);
      return;
    }
    const list = Array.isArray(res.errors) ? res.errors : [];
    const rows = list.map((e, i) =>
      h("tr", { "data-key": "e:" + e.time + " " + (e.request_id || i) },
        h("td", { "data-label": "When", title: fullTime(e.time) }, agoWords(e.time) + " ago"),
        h("td", { "data-label": "Route" }, e.route || DASH),
        h("td", { "data-label": "Backend / server" }, [e.backend, e.server].filter(Boolean).join("/") || DASH),
        h("td", { "data-label": "Reason" }, h("span", { class: "bad" }, e.reason || DASH)),
        h("td", { "data-label": "Status", class: "num" }, e.status ? String(e.status) : DASH),
        h("td", { "data-label": "Request ID", class: "mono" }, e.request_id || DASH),
        h("td", { "data-label": "Error", class: "check" }, e.error || DASH)));
    patch(tbody, rows.length ? rows : [emptyRow(7, "No upstream errors recorded.", "good")]);
  }

  function renderReloads(res) {
    if (res instanceof Error) return; // keep what the page shows
    const items = (res.reloads || []).map((r) => {
      const head = h("p", { class: "reload-head" },
        badge(r.ok ? "applied" : "refused"), " ", h("span", { title: fullTime(r.time) }, agoWords(r.time) + " ago"), " ",
        h("span", { class: "muted" }, "took " + fmtMS(num(r.took_ms))));
      let detail;
      const changes = (r.diff && r.diff.changes) || [];
      if (!r.ok) detail = h("pre", { class: "reload-errors" }, r.error || "refused");
      else if (changes.length) detail = h("ul", { class: "changes" }, changes.map((c) => h("li", { class: "op-" + c.op }, changeLine(c))));
      else detail = h("p", { class: "muted" }, "no changes");
      return h("li", { class: "reload" }, head, detail);
    });
    $("#reloads").replaceChildren(...(items.length ? items : [h("li", { class: "empty" }, "No reload since Portier started.")]));
  }

  // changeLine writes a change as "portier diff" does.
  function changeLine(c) {
    switch (c.op) {
      case "add": return "+ " + c.path;
      case "remove": return "- " + c.path;
      case "reorder": return "~ " + c.path + " (order): " + c.old + " -> " + c.new;
    }
    return "~ " + c.path + ": " + c.old + " -> " + c.new;
  }

  // ---- polling

  async function getJSON(path) {
    const res = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!res.ok) {
      const err = new Error(res.status + " " + res.statusText);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  let lastOK = 0;

  function setLive(state, text) {
    const live = $("#live");
    live.dataset.state = state;
    $("#live-text").textContent = text;
  }

  async function refresh() {
    const now = Date.now();
    let st;
    try {
      st = await getJSON("/api/v1/status");
    } catch (e) {
      setLive("stale", "Cannot reach Portier: " + e.message + (lastOK ? " (last update " + clock(new Date(lastOK)) + ")" : ""));
      return;
    }
    const [errs, reloads] = await Promise.all([
      getJSON("/api/v1/errors?limit=10").catch((e) => e),
      getJSON("/api/v1/reloads?limit=5").catch((e) => e),
    ]);
    const counts = new Map();
    prev = pickPrev(now);
    renderServers(st, now, counts);
    renderRoutes(st, now, counts);
    renderListeners(st);
    renderTotals(st, now, counts);
    renderBanners(st);
    renderErrors(errs);
    renderReloads(reloads);
    keepSample(now, counts);
    lastOK = now;
    setLive("live", "Live \u00b7 updated " + clock(new Date(now)));
  }

  let timer = 0, running = false, again = false;

  // tick refreshes now, then every pollMS; a tick asked for while one runs
  // follows it at once.
  async function tick() {
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    try {
      await refresh();
    } catch (e) {
      setLive("stale", "Dashboard error: " + e.message);
    } finally {
      running = false;
      if (again) {
        again = false;
        tick();
      } else {
        timer = setTimeout(tick, pollMS);
      }
    }
  }

  // ---- notices, token, buttons

  let noticeTimer = 0;

  function notice(kind, text) {
    const el = $("#notice");
    clearTimeout(noticeTimer);
    el.className = "notice " + kind;
    el.textContent = text;
    el.hidden = false;
    if (kind === "ok") noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
  }

  let memToken = "";

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return memToken;
    }
  }

  function setToken(v) {
    memToken = v;
    try {
      if (v) sessionStorage.setItem(TOKEN_KEY, v);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage is off: the token lives as long as this page
    }
    showToken();
  }

  function showToken() {
    const has = getToken() !== "";
    $("#token-form").hidden = has || !askToken;
    $("#token-set").hidden = !has;
  }

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("#token-input");
    const v = input.value.trim();
    if (!v) {
      notice("error", "Enter the admin token first.");
      input.focus();
      return;
    }
    input.value = "";
    setToken(v);
    notice("ok", "Admin token kept for this tab; the buttons will send it.");
  });

  $("#token-forget").addEventListener("click", () => {
    setToken("");
    notice("ok", "Admin token forgotten.");
  });

  async function setState(button) {
    const { action, backend, server } = button.dataset;
    const name = backend + "/" + server;
    const headers = { "Content-Type": "application/json" };
    const token = getToken();
    if (token) headers.Authorization = "Bearer " + token;
    button.disabled = true;
    let res, data = null;
    try {
      res = await fetch("/api/v1/backends/" + encodeURIComponent(backend) + "/servers/" + encodeURIComponent(server) + "/state", {
        method: "POST", headers, cache: "no-store", body: JSON.stringify({ state: action }),
      });
      data = await res.json().catch(() => null);
    } catch (e) {
      button.disabled = false;
      notice("error", "Cannot reach Portier to set " + name + " to " + action + ": " + e.message);
      return;
    }
    if (res.status === 401) {
      button.disabled = false;
      askToken = true;
      setToken("");
      notice("error", (token ? "Portier refused the admin token." : "This button needs the admin token.") +
        " Enter it in the field at the top, then press " + button.textContent + " again.");
      $("#token-input").focus();
      return;
    }
    if (!res.ok) {
      button.disabled = false;
      notice("error", name + ": " + ((data && data.message) || res.status + " " + res.statusText));
      return;
    }
    notice("ok", name + " is now " + ((data && data.state) || action) + ".");
    tick();
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (button && !button.disabled) setState(button);
  });

  showToken();
  tick();
})();
