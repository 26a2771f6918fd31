// Nexflow web UI: the calls page, one row per call (GET /api/v1/calls): skill, who,
// channel, outcome, duration and kill reason, filtered by skill, user, outcome and time;
// each row links to the call's story. Loaded after app.js and kit.js.
"use strict";

const CALL_FILTERS = ["skill", "actor", "outcome", "since", "until"];

function callRow(c) {
  return el("tr", { "data-call": c.call_id, "data-outcome": c.outcome },
    el("td", {}, callLink(c.call_id)),
    el("td", { class: "mono" }, fmtTime(c.started_at)),
    el("td", { class: "mono" }, c.skill || ""),
    el("td", {}, c.actor || ""),
    el("td", { class: "muted" }, c.channel || ""),
    el("td", {}, statusBadge(c.outcome)),
    el("td", { class: "mono" }, (c.reason_codes || []).join(", ")),
    el("td", { class: "mono num" }, fmtDuration(c.duration_ms)),
    el("td", { class: "mono" }, c.kill_reason || ""));
}

function callFilterForm(filters) {
  const text = (name, label) => el("label", {}, label,
    el("input", { id: `calls-${name}`, name, value: filters[name] || "", maxlength: 256 }));
  const when = (name, label) => el("label", {}, label,
    el("input", { id: `calls-${name}`, name, type: "datetime-local", value: toLocalInput(filters[name]) }));
  const outcome = el("select", { id: "calls-outcome", name: "outcome" },
    el("option", { value: "" }, "any"),
    OUTCOMES.map((o) => el("option", { value: o, selected: filters.outcome === o }, o)));
  const form = el("form", { class: "filters", id: "calls-filters" },
    text("skill", "Skill"), text("actor", "User"), el("label", {}, "Outcome", outcome),
    when("since", "From (local time)"), when("until", "To (local time)"),
    el("div", { class: "actions" },
      el("button", { class: "primary", type: "submit", id: "calls-apply" }, "Apply"),
      el("button", { type: "button", onclick: () => go("/ui/calls") }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of CALL_FILTERS) {
      const input = form.elements[name];
      const value = name === "since" || name === "until" ? toUtc(input.value) : input.value.trim();
      if (value) params.set(name, value);
    }
    go("/ui/calls" + (params.toString() ? "?" + params : ""));
  });
  return form;
}

async function callsView(main) {
  const filters = queryParams(CALL_FILTERS);
  const summary = el("span", { class: "muted", id: "calls-summary" });
  const more = el("button", { type: "button", id: "calls-older", hidden: true }, "Older calls");
  const holder = el("div", { id: "calls-holder" });
  main.append(el("h1", {}, "Calls"), callFilterForm(filters),
    el("div", { class: "actions" }, summary), holder, el("div", { class: "actions" }, more));
  let before = null, shown = 0, body = null;
  async function loadPage() {
    const params = new URLSearchParams({ ...filters, limit: "100" });
    if (before) params.set("before", String(before));
    let page;
    try { page = await api("GET", "/api/v1/calls?" + params); }
    catch (e) { summary.textContent = ""; holder.replaceChildren(el("p", { class: "error", id: "calls-error" }, e.message)); return; }
    const rows = page.calls.map(callRow);
    shown += rows.length;
    before = page.next_before;
    more.hidden = !before;
    summary.textContent = `${shown} call${shown === 1 ? "" : "s"} shown${before ? " (more below)" : ""}`;
    if (body) { body.append(...rows); return; }
    const empty = Object.keys(filters).length
      ? "No call matches these filters. Widen the time range or clear a filter."
      : "No calls yet. Run a skill (POST /api/v1/skills/{name}, `nexflow run`, or from chat) and it shows here.";
    if (!rows.length && before) { holder.replaceChildren(el("p", { class: "muted" }, "None in this stretch; look further back.")); return; }
    const table = dataTable("calls-table",
      ["Call", "Started (UTC)", "Skill", "User", "Channel", "Outcome", "Reasons", "Duration", "Kill reason"], rows, empty);
    body = table.querySelector("tbody");
    holder.replaceChildren(table);
  }
  more.addEventListener("click", loadPage);
  await loadPage();
}

registerPage(/^\/ui\/calls\/?$/, "nav-calls", callsView);
