// Nexflow web UI: the audit log viewer, call stories, approvals and installed skills.
// Plain DOM, no build step. Every value from the server is set as text (never as HTML):
// skill input and output in the log are attacker-controlled.
"use strict";

const state = { user: null, csrf: null, socket: null };
const FILTERS = ["actor", "skill", "action", "decision", "reason_code", "call_id", "since", "until"];

// ---- small helpers -----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(message, isError = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && !path.startsWith("/auth/")) {  // a wrong password is not a lost session
    state.user = null;
    go("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function fmtTime(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function go(path) {
  if (location.pathname + location.search !== path) history.pushState(null, "", path);
  route();
}

function statusBadge(status) {
  return el("span", { class: `status status-${status}`, "data-status": status }, status);
}

// ---- session -----------------------------------------------------------------------------

async function loadSession() {
  try {
    const s = await fetch("/auth/session", { credentials: "same-origin" });
    if (!s.ok) return false;
    setSession(await s.json());
    return true;
  } catch { return false; }
}

function setSession(s) {
  state.user = s;
  state.csrf = s.csrf_token;
  document.getElementById("who").textContent = `${s.user} (${s.roles.join(", ") || "no role"})`;
  document.getElementById("topbar").hidden = false;
}

async function logout() {
  try { await api("POST", "/auth/logout"); } catch (e) { /* the session may be gone already */ }
  state.user = null; state.csrf = null;
  closeSocket();
  document.getElementById("topbar").hidden = true;
  go("/ui/login");
}

function loginView(main) {
  document.getElementById("topbar").hidden = true;
  const error = el("p", { class: "error", id: "login-error", role: "alert" });
  const name = el("input", { name: "name", id: "login-name", autocomplete: "username", required: true });
  const password = el("input", { name: "password", id: "login-password", type: "password",
                                 autocomplete: "current-password", required: true });
  const form = el("form", { class: "login", id: "login-form" },
    el("h1", {}, "Nexflow"),
    el("label", {}, "User name", name),
    el("label", {}, "Password", password),
    el("button", { class: "primary", type: "submit" }, "Log in"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      setSession(await api("POST", "/auth/login", { name: name.value, password: password.value }));
      const next = new URLSearchParams(location.search).get("next");
      go(next && next.startsWith("/ui/") && !next.startsWith("/ui/login") ? next : "/ui/");
      refreshChrome();
    } catch (e) {
      error.textContent = e.message;
      password.value = "";
    }
  });
  main.append(form);
  name.focus();
}

// ---- top bar: chain status and pending count ------------------------------------------------

async function refreshChrome(fresh = false) {
  const chain = document.getElementById("chain-status");
  chain.className = "chain"; chain.textContent = "chain: verifying…";
  api("GET", "/api/v1/audit/verify" + (fresh ? "?fresh=true" : "")).then((r) => {
    chain.className = r.ok ? "chain ok" : "chain bad";
    chain.textContent = r.ok
      ? `chain verified · ${r.checked} events`
      : `chain BROKEN at #${r.first_bad_seq ?? "?"}: ${r.problem}`;
    chain.title = `${r.message || ""}\nverified ${fmtTime(r.verified_at)}; click to verify again`;
  }).catch((e) => { chain.className = "chain bad"; chain.textContent = `chain: ${e.message}`; });
  refreshPending();
}

async function refreshPending() {
  const badge = document.getElementById("pending-count");
  try {
    const r = await api("GET", "/api/v1/approvals?status=pending&limit=1000");
    badge.textContent = String(r.approvals.length);
    badge.hidden = r.approvals.length === 0;
  } catch { badge.hidden = true; }
}

// ---- the log -------------------------------------------------------------------------------

function currentFilters() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const f of FILTERS) if (params.get(f)) out[f] = params.get(f);
  return out;
}

function toUtc(localValue) {
  // <input type=datetime-local> gives local time without zone; the API wants ISO 8601.
  if (!localValue) return "";
  const d = new Date(localValue);
  return isNaN(d) ? localValue : d.toISOString();
}

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function eventRow(e, fresh = false) {
  return el("tr", { class: fresh ? "fresh" : null, "data-seq": e.seq, "data-action": e.action },
    el("td", { class: "mono" }, e.seq),
    el("td", { class: "mono" }, fmtTime(e.ts)),
    el("td", {}, e.action),
    el("td", {}, e.actor || "", e.payload && e.payload.identity ? el("span", { class: "muted channel" }, ` via ${e.payload.channel}`) : ""),
    el("td", {}, e.skill || ""),
    el("td", { class: e.decision ? `decision-${e.decision}` : null }, e.decision || ""),
    el("td", { class: "mono" }, (e.reason_codes || []).join(", ")),
    el("td", { class: "mono" }, e.call_id
      ? el("a", { href: `/ui/calls/${encodeURIComponent(e.call_id)}`, "data-nav": true, class: "call-link" }, e.call_id)
      : ""));
}

function logView(main) {
  const filters = currentFilters();
  const inputs = {};
  const field = (name, label, input) => { inputs[name] = input; return el("label", {}, label, input); };
  const decision = el("select", { name: "decision", id: "filter-decision" },
    ...["", "allow", "deny", "approval_required", "error"].map((d) =>
      el("option", { value: d, selected: filters.decision === d }, d || "any")));
  const form = el("form", { class: "filters", id: "filters" },
    field("actor", "Actor", el("input", { name: "actor", id: "filter-actor", value: filters.actor || "" })),
    field("skill", "Skill", el("input", { name: "skill", id: "filter-skill", value: filters.skill || "" })),
    field("action", "Action (call.* for a prefix)", el("input", { name: "action", id: "filter-action", value: filters.action || "" })),
    field("decision", "Decision", decision),
    field("reason_code", "Reason code", el("input", { name: "reason_code", id: "filter-reason", value: filters.reason_code || "" })),
    field("call_id", "Call id", el("input", { name: "call_id", id: "filter-call", value: filters.call_id || "" })),
    field("since", "From", el("input", { name: "since", id: "filter-since", type: "datetime-local", value: toLocalInput(filters.since) })),
    field("until", "Until", el("input", { name: "until", id: "filter-until", type: "datetime-local", value: toLocalInput(filters.until) })),
    el("div", { class: "actions" },
      el("button", { class: "primary", type: "submit", id: "apply-filters" }, "Filter"),
      el("button", { type: "button", onclick: () => go("/ui/") }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) {
      const value = name === "since" || name === "until" ? toUtc(input.value) : input.value.trim();
      if (value) params.set(name, value);
    }
    go("/ui/" + (params.toString() ? "?" + params : ""));
  });

  const query = new URLSearchParams(filters).toString();
  const exportLink = (fmt) => el("a", { href: `/api/v1/audit/export?format=${fmt}${query ? "&" + query : ""}`,
                                      id: `export-${fmt}`, download: true }, `Export ${fmt.toUpperCase()}`);
  const live = el("input", { type: "checkbox", id: "live-tail" });
  const liveState = el("span", { class: "muted", id: "live-state" });
  const body = el("tbody", { id: "log-rows" });
  const more = el("button", { type: "button", id: "older", hidden: true }, "Older events");
  const summary = el("span", { class: "muted", id: "log-summary" });
  main.append(
    el("h1", {}, "Audit log"), form,
    el("div", { class: "actions" }, el("label", {}, live, " Live tail"), liveState,
       el("span", { class: "spacer" }), exportLink("jsonl"), exportLink("csv"), summary),
    el("table", { id: "log-table" },
      el("thead", {}, el("tr", {}, ...["Seq", "Time (UTC)", "Action", "Actor", "Skill", "Decision", "Reasons", "Call"].map((h) => el("th", {}, h)))),
      body),
    el("div", { class: "actions" }, more));

  let nextBefore = null, shown = 0, newest = 0;
  async function loadPage() {
    const params = new URLSearchParams({ ...filters, limit: "100" });
    if (nextBefore) params.set("before", String(nextBefore));
    try {
      const page = await api("GET", "/api/v1/audit?" + params);
      for (const e of page.events) { body.append(eventRow(e)); newest = Math.max(newest, e.seq); }
      shown += page.events.length;
      nextBefore = page.next_before;
      more.hidden = !nextBefore;
      summary.textContent = `${shown} event${shown === 1 ? "" : "s"} shown${nextBefore ? " (more below)" : ""}`;
      if (!shown) body.append(el("tr", { id: "no-events" }, el("td", { colspan: 8, class: "muted" }, "No events match.")));
    } catch (e) { summary.textContent = ""; toast(e.message, true); }
  }
  more.addEventListener("click", loadPage);
  live.addEventListener("change", () => {
    if (!live.checked) { closeSocket(); liveState.textContent = ""; return; }
    openSocket(filters, newest, (events) => {
      const empty = document.getElementById("no-events");
      if (empty) empty.remove();
      for (const e of events) {
        if (e.seq <= newest) continue;
        newest = e.seq;
        body.prepend(eventRow(e, true));
        shown += 1;
      }
      summary.textContent = `${shown} events shown`;
      if (events.some((e) => e.action.startsWith("approval."))) refreshPending();
    }, liveState);
  });
  loadPage();
}

function closeSocket() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
}

function openSocket(filters, after, onEvents, stateLabel) {
  closeSocket();
  const params = new URLSearchParams(filters);
  if (after) params.set("after", String(after));
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/logs?${params}`);
  state.socket = socket;
  stateLabel.textContent = "connecting…";
  socket.onopen = () => { stateLabel.textContent = "live"; stateLabel.dataset.state = "live"; };
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "events") onEvents(data.events);
    else if (data.type === "error") stateLabel.textContent = `store error: ${data.message}`;
  };
  socket.onclose = (event) => {
    stateLabel.dataset.state = "closed";
    stateLabel.textContent = `disconnected (${event.reason || event.code}); retrying…`;
    setTimeout(() => { if (state.socket === socket) openSocket(filters, after, onEvents, stateLabel); }, 2000);
  };
}

// ---- one call's story ---------------------------------------------------------------------

const STAGES = [
  ["request", (a) => a === "call.requested"],
  ["decision", (a) => a === "call.decided" || a === "call.refused"],
  ["approval", (a) => a.startsWith("approval.")],
  ["egress", (a) => a === "call.egress" || a.startsWith("egress.")],
  ["execution", (a) => a === "call.dispatched"],
  ["result", (a) => a === "call.finished" || a === "call.failed"],
];

function stageOf(action) {
  for (const [name, test] of STAGES) if (test(action)) return name;
  return "other";
}

async function callView(main, callId) {
  main.append(el("p", { class: "muted" }, "Loading…"));
  let story;
  try { story = await api("GET", `/api/v1/calls/${encodeURIComponent(callId)}`); }
  catch (e) { main.replaceChildren(el("h1", {}, "Call"), el("p", { class: "error" }, e.message)); return; }
  const head = el("div", { class: "card", id: "call-summary" },
    el("h1", {}, "Call ", el("span", { class: "mono" }, story.call_id)),
    el("p", {}, "Skill ", el("b", {}, story.skill || "?"), " · status ", statusBadge(story.status)),
    story.error ? el("p", { class: "error" }, `error: ${story.error}`) : null);
  if (story.status === "pending_approval" && story.approval_id) head.append(await decisionBox(story.approval_id, () => go(location.pathname)));
  const items = story.events.map((e) => {
    const stage = stageOf(e.action);
    return el("li", { class: `stage-${stage}`, "data-action": e.action },
      el("div", { class: "stage" }, stage),
      el("div", {}, el("b", {}, e.action), " ", el("span", { class: "muted mono" }, `#${e.seq} · ${fmtTime(e.ts)}`),
         e.actor ? ` · by ${e.actor}` : "", e.decision ? el("span", { class: `decision-${e.decision}` }, ` · ${e.decision}`) : "",
         (e.reason_codes || []).length ? el("span", { class: "mono" }, ` · ${e.reason_codes.join(", ")}`) : ""),
      Object.keys(e.payload || {}).length ? el("pre", {}, JSON.stringify(e.payload, null, 2)) : null);
  });
  const result = story.result
    ? el("div", { class: "card", id: "call-result" }, el("h2", {}, "Result"),
         el("p", {}, statusBadge(story.result.status), ` exit ${story.result.exit_code ?? "-"}`,
            story.result.kill_reason ? ` · killed: ${story.result.kill_reason}` : ""),
         el("pre", { id: "call-output" }, story.result.output !== null && story.result.output !== undefined
            ? JSON.stringify(story.result.output, null, 2) : story.result.stdout),
         story.result.stderr ? el("pre", {}, story.result.stderr) : null)
    : null;
  main.replaceChildren(head, result || "", el("h2", {}, "Story"), el("ol", { class: "story", id: "story" }, items));
}

async function decisionBox(approvalId, after) {
  const comment = el("input", { placeholder: "comment (optional)", class: "comment", maxlength: 1000 });
  const decide = (verb) => async () => {
    try {
      const r = await api("POST", `/api/v1/approvals/${encodeURIComponent(approvalId)}/${verb}`,
                          comment.value ? { comment: comment.value } : {});
      toast(`approval ${r.id}: ${r.status}`);
      refreshPending();
      after();
    } catch (e) { toast(e.message, true); }
  };
  return el("div", { class: "actions decision", "data-approval": approvalId },
    el("button", { class: "primary approve", type: "button", onclick: decide("approve") }, "Approve"),
    el("button", { class: "danger deny", type: "button", onclick: decide("deny") }, "Deny"),
    comment);
}

// ---- approvals ------------------------------------------------------------------------------

async function approvalsView(main) {
  main.append(el("h1", {}, "Approvals"));
  const params = new URLSearchParams(location.search);
  const which = params.get("status") || "pending";
  const picker = el("select", { id: "approval-status", onchange: (e) => go(`/ui/approvals?status=${e.target.value}`) },
    ...["pending", "granted", "ran", "denied", "expired", "invalidated", "interrupted", "all"].map((s) =>
      el("option", { value: s, selected: s === which }, s)));
  main.append(el("div", { class: "actions" }, el("label", {}, "Show ", picker)));
  let list;
  try {
    list = await api("GET", "/api/v1/approvals?limit=200" + (which === "all" ? "" : `&status=${which}`));
  } catch (e) { main.append(el("p", { class: "error" }, e.message)); return; }
  if (!list.approvals.length) { main.append(el("p", { class: "muted", id: "no-approvals" }, `No ${which} approvals.`)); return; }
  for (const a of list.approvals) {
    const card = el("div", { class: "card approval", "data-approval": a.id, "data-call": a.call_id },
      el("p", {}, statusBadge(a.status), " ", el("b", {}, a.skill), ` asked by ${a.principal} · `,
         el("a", { href: `/ui/calls/${encodeURIComponent(a.call_id)}`, "data-nav": true }, a.call_id)),
      el("p", { class: "muted" }, `requested ${fmtTime(a.created_at)} · expires ${fmtTime(a.expires_at)}`,
         a.decided_by ? ` · decided by ${a.decided_by}` : ""),
      el("p", {}, "Why: ", (a.reasons || []).map((r) => r.code || r.message || JSON.stringify(r)).join(", ")),
      el("pre", {}, JSON.stringify({ input: a.input, grants: a.grants }, null, 2)));
    if (a.status === "pending") card.append(await decisionBox(a.id, () => go(location.pathname + location.search)));
    main.append(card);
  }
}

// ---- skills ---------------------------------------------------------------------------------

// Installed skills, and the skill folders that failed to load with their diagnostics
// (file relative to its skills folder, line, field, code, message). All of it is text:
// a SKILL.md is written by whoever wrote the skill.
async function skillsView(main) {
  main.append(el("h1", {}, "Skills"));
  let list;
  try { list = await api("GET", "/api/v1/skills"); } catch (e) { main.append(el("p", { class: "error" }, e.message)); return; }
  const cell = (value, cls) => el("td", { class: cls }, value === null || value === undefined ? "" : value);
  main.append(el("h2", {}, `Installed (${list.skills.length})`));
  main.append(el("table", { id: "skills-table" },
    el("thead", {}, el("tr", {}, ["Name", "Version", "Source", "Runtime", "Permissions", "Description"].map((h) => el("th", {}, h)))),
    el("tbody", { id: "skill-rows" }, list.skills.map((s) => el("tr", { "data-skill": s.name },
      cell(s.name, "mono"), cell(s.version), cell(s.source), cell(s.executable ? s.runtime || "default" : "instructions only"),
      cell((s.permissions || []).join(", ")), cell(s.description))))));
  const errors = list.problems.filter((p) => p.severity === "error");
  const warnings = list.problems.filter((p) => p.severity !== "error");
  main.append(el("h2", {}, `Failed to load (${errors.length})`));
  const problemTable = (id, rows) => rows.length ? el("table", { id },
    el("thead", {}, el("tr", {}, ["File", "Line", "Field", "Code", "Message"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((p) => el("tr", { class: "problem", "data-file": p.file, "data-code": p.code },
      cell(p.file, "mono"), cell(p.line), cell(p.field, "mono"), cell(p.code, "mono"), cell(p.message)))))
    : el("p", { class: "muted", id: `${id}-none` }, "None.");
  main.append(problemTable("skill-problems", errors));
  if (warnings.length) {
    main.append(el("h2", {}, `Warnings (${warnings.length})`));
    main.append(problemTable("skill-warnings", warnings));
  }
}

// ---- one's own password ------------------------------------------------------------------

function passwordView(main) {
  const error = el("p", { class: "error", id: "password-error", role: "alert" });
  const field = (id, label, autocomplete) =>
    el("label", {}, label, el("input", { id, type: "password", autocomplete, required: true }));
  const form = el("form", { class: "login", id: "password-form" },
    el("h1", {}, "Change your password"),
    field("password-current", "Current password", "current-password"),
    field("password-new", "New password (10+ characters)", "new-password"),
    field("password-again", "New password again", "new-password"),
    el("button", { class: "primary", type: "submit" }, "Change password"),
    el("p", { class: "muted" }, "Every session of yours ends: you log in again."),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value;
    if (value("password-new") !== value("password-again")) {
      error.textContent = "the new passwords differ";
      return;
    }
    try {
      await api("POST", "/auth/password",
                { current_password: value("password-current"), new_password: value("password-new") });
      state.user = null; state.csrf = null;
      document.getElementById("topbar").hidden = true;
      go("/ui/login");
      toast("password changed; log in with the new one");
    } catch (e) { error.textContent = e.message; }
  });
  main.append(form);
}

// ---- routing --------------------------------------------------------------------------------

async function route() {
  const main = document.getElementById("app");
  closeSocket();
  main.replaceChildren();
  const path = location.pathname;
  if (path.startsWith("/ui/login")) { loginView(main); return; }
  if (!state.user && !(await loadSession())) {
    go("/ui/login?next=" + encodeURIComponent(path + location.search));
    return;
  }
  for (const a of document.querySelectorAll("header nav a")) a.classList.remove("active");
  const call = path.match(/^\/ui\/calls\/(.+)$/);
  if (call) { await callView(main, decodeURIComponent(call[1])); return; }
  if (path.startsWith("/ui/password")) { passwordView(main); return; }
  if (path.startsWith("/ui/skills")) {
    document.getElementById("nav-skills").classList.add("active");
    await skillsView(main);
    return;
  }
  if (path.startsWith("/ui/pairings")) {  // pairings.js
    document.getElementById("nav-pairings").classList.add("active");
    await pairingsView(main);
    return;
  }
  if (path.startsWith("/ui/registry")) {  // registry.js
    document.getElementById("nav-registry").classList.add("active");
    await registryView(main);
    return;
  }
  if (path.startsWith("/ui/approvals")) {
    document.getElementById("nav-approvals").classList.add("active");
    await approvalsView(main);
    return;
  }
  document.getElementById("nav-log").classList.add("active");
  logView(main);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
window.addEventListener("popstate", route);
document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("chain-status").addEventListener("click", () => refreshChrome(true));
  if (!location.pathname.startsWith("/ui/login") && (await loadSession())) refreshChrome();
  route();
});
