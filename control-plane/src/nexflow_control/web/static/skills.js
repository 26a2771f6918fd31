// Nexflow web UI: installed skills with their declared permissions, state under the
// policy (enabled, approval, trusted) and last call; a skill's row opens its schemas,
// grants asked for and last runs. Skill folders that failed to load are listed with
// their diagnostics. All of it is text: a SKILL.md is written by whoever wrote the skill.
// Loaded after app.js and kit.js.
"use strict";

function cell(value, cls) {
  return el("td", { class: cls }, value === null || value === undefined ? "" : value);
}

function stateBadges(st) {
  if (!st) return "";
  return [st.enabled ? el("span", { class: "status status-succeeded state" }, "enabled")
                     : el("span", { class: "status status-denied state" }, "disabled"),
          st.require_approval ? el("span", { class: "status status-pending state" }, "approval") : "",
          st.trusted ? el("span", { class: "status state" }, "trusted") : ""];
}

async function skillDetail(name) {
  const box = el("div", { class: "skill-detail", "data-detail": name }, el("p", { class: "muted" }, "Loading…"));
  const [detail, runs] = await Promise.allSettled([
    api("GET", `/api/v1/skills/${encodeURIComponent(name)}`),
    api("GET", `/api/v1/calls?skill=${encodeURIComponent(name)}&limit=5`),
  ]);
  const parts = [];
  if (detail.status === "fulfilled") {
    const d = detail.value;
    parts.push(el("p", {}, `Runtime ${d.runtime || "default"} · backend ${d.backend || "default"} · timeout ${d.timeout_sec}s · output ≤ ${d.max_output_kb} KB`));
    parts.push(el("p", {}, "Filesystem: ", (d.filesystem || []).map((f) => `${f.path || ""} (${f.mode || f.access || ""})`).join(", ") || "none",
                  " · Network: ", (d.network || []).join(", ") || "none"));
    parts.push(el("div", { class: "schemas" },
      el("div", {}, el("h3", {}, "Input schema"), el("pre", { class: "input-schema" }, d.input_schema ? JSON.stringify(d.input_schema, null, 2) : "none declared")),
      el("div", {}, el("h3", {}, "Output schema"), el("pre", { class: "output-schema" }, d.output_schema ? JSON.stringify(d.output_schema, null, 2) : "none declared"))));
  } else parts.push(el("p", { class: "error" }, detail.reason.message));
  parts.push(el("h3", {}, "Last runs"));
  if (runs.status === "fulfilled") {
    parts.push(dataTable(`runs-${name}`, ["Call", "Started (UTC)", "User", "Outcome", "Duration"],
      runs.value.calls.map((c) => el("tr", { "data-call": c.call_id },
        el("td", {}, callLink(c.call_id)), cell(fmtTime(c.started_at), "mono"), cell(c.actor),
        el("td", {}, statusBadge(c.outcome)), cell(fmtDuration(c.duration_ms), "mono"))),
      "Never run. Run it (POST /api/v1/skills/" + name + ") and its calls show here."));
  } else parts.push(el("p", { class: "error" }, runs.reason.message));
  box.replaceChildren(...parts);
  return box;
}

function skillRow(s, st) {
  const last = st && st.last_call;
  const row = el("tr", { "data-skill": s.name, class: "skill-row" },
    el("td", {}, el("button", { type: "button", class: "link open-skill", "aria-expanded": "false" }, s.name)),
    cell(s.version), cell(s.source), cell(s.executable ? s.runtime || "default" : "instructions only"),
    cell((s.permissions || []).join(", ") || "none", "mono"), el("td", {}, stateBadges(st)),
    el("td", {}, last ? [statusBadge(last.outcome), " ", el("span", { class: "muted" }, fmtTime(last.started_at))] : el("span", { class: "muted" }, "never")),
    cell(s.description));
  const toggle = row.querySelector("button.open-skill");
  toggle.addEventListener("click", async () => {
    const open = row.nextElementSibling && row.nextElementSibling.classList.contains("detail-row");
    if (open) { row.nextElementSibling.remove(); toggle.setAttribute("aria-expanded", "false"); return; }
    toggle.setAttribute("aria-expanded", "true");
    const holder = el("td", { colspan: 8 });
    row.after(el("tr", { class: "detail-row" }, holder));
    holder.append(await skillDetail(s.name));
  });
  return row;
}

async function skillsView(main) {
  main.append(el("h1", {}, "Skills"));
  let list;
  try { list = await api("GET", "/api/v1/skills"); } catch (e) { main.append(el("p", { class: "error" }, e.message)); return; }
  let states = {};
  try { states = Object.fromEntries((await api("GET", "/api/v1/stats/skills")).skills.map((s) => [s.name, s])); }
  catch (e) { main.append(el("p", { class: "muted", id: "skill-state-error" }, `policy state and last calls unavailable: ${e.message}`)); }
  main.append(el("h2", {}, `Installed (${list.skills.length})`));
  main.append(dataTable("skills-table",
    ["Name", "Version", "Source", "Runtime", "Permissions", "State", "Last call", "Description"],
    list.skills.map((s) => skillRow(s, states[s.name])),
    "No skill is installed. Put a skill folder (with its SKILL.md) in the skills directory, or install one from the registry.",
    "skill-rows"));
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

registerPage(/^\/ui\/skills(\/.*)?$/, "nav-skills", skillsView);
