// Nexflow web UI: small pieces the calls, overview, skills, schedules and secrets pages
// share (loaded after app.js; uses its el). Every value is set as text.
"use strict";

const OUTCOMES = ["succeeded", "failed", "killed", "error", "denied", "refused", "expired", "pending_approval", "running"];

// A table with a header row; `rows` are <tr>s, `empty` the sentence shown when there are none.
function dataTable(id, headers, rows, empty, bodyId) {
  if (!rows.length) return el("div", { class: "card empty", id: `${id}-empty` }, empty);
  return el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", { id: bodyId }, rows));
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function callLink(callId) {
  return el("a", { href: `/ui/calls/${encodeURIComponent(callId)}`, "data-nav": true, class: "call-link mono" }, callId);
}

// A button that asks once more before a destructive action ("Delete" -> "Really delete?").
function confirmButton(label, cls, action) {
  const button = el("button", { type: "button", class: `danger ${cls}` }, label);
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = `Really ${label.toLowerCase()}?`;
      setTimeout(() => { button.dataset.armed = ""; button.textContent = label; }, 4000);
      return;
    }
    button.disabled = true;
    try { await action(); } finally { button.disabled = false; }
  });
  return button;
}

// The page's query parameters among `names`, as an object of the non-empty ones.
function queryParams(names) {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const n of names) if (params.get(n)) out[n] = params.get(n);
  return out;
}

// Run `fn`, toast its error (the API's sentence), and resolve to whether it worked.
async function attempt(fn, done) {
  try { const r = await fn(); if (done) toast(done(r)); return true; }
  catch (e) { toast(e.message, true); return false; }
}
