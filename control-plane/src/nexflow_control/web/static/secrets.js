// Nexflow web UI: secrets for an admin (scope secrets:admin). Names, versions, the
// policy grants naming each and its last read by a call; set, rotate and delete. A value
// only ever sits in a password field until it is sent, and the field is emptied right
// after: no secret value is ever put in the page. Loaded after app.js and kit.js.
"use strict";

function grantText(g) {
  const who = [...g.principals, ...g.roles.map((r) => `role ${r}`)].join(", ") || "nobody";
  return `${g.skills.join(", ") || "no skill"} for ${who}`;
}

// A password field and a button; `send(value)` gets the value, the field is emptied first.
function valueForm(cls, label, send) {
  const field = el("input", { type: "password", class: `secret-value ${cls}`, autocomplete: "new-password",
                              placeholder: "new value", "aria-label": label, maxlength: 65536 });
  const form = el("form", { class: `actions ${cls}-form` }, field,
    el("button", { type: "submit", class: cls }, label));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = field.value;
    field.value = "";
    if (!value) { toast("type a value first", true); return; }
    await send(value);
  });
  return form;
}

function secretRow(s) {
  const read = s.last_read;
  return el("tr", { "data-secret": s.name, "data-stored": String(s.stored) },
    el("td", { class: "mono" }, s.name),
    el("td", {}, s.stored ? `v${s.version}` : el("span", { class: "status status-failed" }, "not set")),
    el("td", { class: "muted" }, s.stored ? `${fmtTime(s.updated_at)} by ${s.updated_by}` : ""),
    el("td", { class: "grants" }, s.grants.length ? s.grants.map((g) => el("div", {}, grantText(g)))
                                                  : el("span", { class: "muted" }, "no grant: no call gets it")),
    el("td", { class: "last-read" }, read ? [fmtTime(read.at), ` by ${read.actor || "?"} for ${read.skill || "?"} `, read.call_id ? callLink(read.call_id) : ""]
                                         : el("span", { class: "muted" }, "never read")),
    el("td", {}, s.stored
      ? [valueForm("rotate", "Rotate", (value) => attempt(
           () => api("PUT", `/api/v1/secrets/${encodeURIComponent(s.name)}`, { value }),
           (r) => `${r.name} is now v${r.version}`).then((ok) => ok && go("/ui/secrets"))),
         confirmButton("Delete", "delete-secret", () => attempt(
           () => api("DELETE", `/api/v1/secrets/${encodeURIComponent(s.name)}`),
           () => `${s.name} deleted`).then((ok) => ok && go("/ui/secrets")))]
      : valueForm("set", "Set", (value) => createSecret(s.name, value))));
}

function createSecret(name, value) {
  return attempt(() => api("POST", "/api/v1/secrets", { name, value }), (r) => `${r.name} stored (v${r.version})`)
    .then((ok) => ok && go("/ui/secrets"));
}

async function secretsView(main) {
  main.append(el("h1", {}, "Secrets"),
    el("p", { class: "muted" }, "Values are never shown: only names, versions, who may get them (policy grants) and when a call last read them."));
  let list;
  try { list = await api("GET", "/api/v1/secrets/usage"); }
  catch (e) { main.append(el("p", { class: "error", id: "secrets-error" }, e.message)); return; }
  const name = el("input", { id: "new-secret-name", placeholder: "name (e.g. github_token)", maxlength: 128, "aria-label": "secret name" });
  const add = valueForm("create", "Add secret", (value) => createSecret(name.value.trim(), value));
  add.id = "new-secret";
  add.prepend(name);
  main.append(el("div", { class: "card" }, el("h2", {}, "Add a secret"), add));
  main.append(dataTable("secrets-table", ["Name", "Version", "Updated (UTC)", "Granted to", "Last read", ""],
    list.secrets.map(secretRow),
    "No secrets and no grants yet. Add one above, then grant it to a skill in the policy data (data.nexflow.config.secrets.grants)."));
}

registerPage(/^\/ui\/secrets\/?$/, "nav-secrets", secretsView);
