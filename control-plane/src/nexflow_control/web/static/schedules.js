// Nexflow web UI: schedules (yours; every one for an accounts admin) with pause, resume
// and delete. Loaded after app.js and kit.js; every value is set as text.
"use strict";

function scheduleRow(s) {
  const act = (verb) => () => attempt(
    () => api("POST", `/api/v1/schedules/${encodeURIComponent(s.id)}/${verb}`),
    (r) => `schedule ${r.id} is ${r.status}`).then((ok) => ok && go("/ui/schedules"));
  const remove = confirmButton("Delete", "delete-schedule", () => attempt(
    () => api("DELETE", `/api/v1/schedules/${encodeURIComponent(s.id)}`),
    () => `schedule ${s.id} deleted`).then((ok) => ok && go("/ui/schedules")));
  return el("tr", { "data-schedule": s.id, "data-status": s.status },
    el("td", { class: "mono" }, s.id),
    el("td", { class: "mono" }, s.skill),
    el("td", {}, s.owner),
    el("td", { class: "mono" }, s.cron ? `${s.cron} (${s.timezone})` : `once at ${fmtTime(s.at)}`),
    el("td", {}, statusBadge(s.status)),
    el("td", { class: "mono" }, fmtTime(s.next_run) || "—"),
    el("td", {}, s.last_call_id ? [callLink(s.last_call_id), " ", s.last_outcome ? statusBadge(s.last_outcome) : ""] : el("span", { class: "muted" }, "not yet")),
    el("td", { class: "muted" }, s.destination),
    el("td", {}, el("div", { class: "actions" },
      s.status === "active" ? el("button", { type: "button", class: "pause", onclick: act("pause") }, "Pause") : "",
      s.status === "paused" ? el("button", { type: "button", class: "resume primary", onclick: act("resume") }, "Resume") : "",
      remove)));
}

async function schedulesView(main) {
  main.append(el("h1", {}, "Schedules"),
    el("p", { class: "muted" }, "Calls that run later as their owner. Pausing skips the runs due meanwhile; they are not made up."));
  let list;
  try { list = await api("GET", "/api/v1/schedules"); }
  catch (e) { main.append(el("p", { class: "error", id: "schedules-error" }, e.message)); return; }
  main.append(dataTable("schedules-table",
    ["Id", "Skill", "Owner", "When", "Status", "Next run (UTC)", "Last run", "Destination", ""],
    list.schedules.map(scheduleRow),
    "No schedules. Create one with POST /api/v1/schedules ({skill, input, cron or at}) or ask the chat bot to schedule a skill."));
}

registerPage(/^\/ui\/schedules\/?$/, "nav-schedules", schedulesView);
