// Nexflow web UI: pairing codes that unknown chat senders were given, for an admin to
// confirm (linking the chat identity to a user) or reject. Loaded after app.js and uses
// its helpers (el, api, toast, fmtTime, go). Every value is set as text.
"use strict";

async function pairingsView(main) {
  main.append(el("h1", {}, "Pairing codes"),
    el("p", { class: "muted" }, "A chat sender no user is linked to gets a code. Confirm it for the user who showed it to you."));
  let list;
  try { list = await api("GET", "/api/v1/pairings"); }
  catch (e) { main.append(el("p", { class: "error", id: "pairings-error" }, e.message)); return; }
  if (!list.pairings.length) { main.append(el("p", { class: "muted", id: "no-pairings" }, "No codes wait for an admin.")); return; }
  for (const p of list.pairings) main.append(pairingCard(p));
}

function pairingCard(p) {
  const user = el("input", { placeholder: "user name", class: "pairing-user", maxlength: 64, "aria-label": `user for ${p.code}` });
  const act = (verb, body) => async () => {
    try {
      const r = await api("POST", `/api/v1/pairings/${encodeURIComponent(p.code)}/${verb}`, body ? body() : undefined);
      toast(verb === "confirm" ? `${r.identity} is now ${r.user}` : `${r.code} rejected`);
      go("/ui/pairings");
    } catch (e) { toast(e.message, true); }
  };
  return el("div", { class: "card pairing", "data-code": p.code },
    el("p", {}, el("b", { class: "mono" }, p.code), ` · ${p.identity} · from ${p.channel}`),
    el("p", { class: "muted" }, `asked ${fmtTime(p.created_at)} · expires ${fmtTime(p.expires_at)}`),
    el("div", { class: "actions" }, user,
      el("button", { class: "primary confirm", type: "button", onclick: act("confirm", () => ({ user: user.value.trim() })) }, "Confirm"),
      el("button", { class: "danger reject", type: "button", onclick: act("reject") }, "Reject")));
}

registerPage(/^\/ui\/pairings(\/.*)?$/, "nav-pairings", pairingsView);
