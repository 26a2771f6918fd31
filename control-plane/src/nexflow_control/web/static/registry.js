// Nexflow web UI: the Registry page. Browsing the registry (registry-browse.js: search and
// a package's page); skills installed from a registry (or unsigned, from a folder or
// archive) with their version, publisher, verification and scan verdict; an update's
// pending permission diff with an Approve button; and the registry's log checkpoint,
// checked against the last one an install saw. Loaded after app.js and uses its helpers
// (el, api, toast, go). Every value is set as text.
"use strict";

async function registryView(main) {
  const pkg = location.pathname.match(/^\/ui\/registry\/packages\/([^/]+)$/);
  if (pkg) { await packageView(main, decodeURIComponent(pkg[1])); return; }
  main.append(el("h1", {}, "Registry"), browseCard());
  let list;
  try { list = await api("GET", "/api/v1/marketplace/skills"); }
  catch (e) { main.append(el("p", { class: "error", id: "registry-error" }, e.message)); return; }
  main.append(await registryLogCard(list.skills));
  if (!list.skills.length) {
    main.append(el("p", { class: "muted", id: "no-installed" }, "Nothing is installed from a registry."));
    return;
  }
  main.append(el("h2", {}, "Installed here"), el("table", { id: "installed" },
    el("thead", {}, el("tr", {}, ["Skill", "Version", "Publisher", "Verified", "Scan", "Consent"].map((h) => el("th", {}, h)))),
    el("tbody", {}, list.skills.map(installedRow))));
}

function installedRow(s) {
  const diff = consentLines(s.consent_diff);
  const consent = diff.length
    ? el("div", { class: "consent" }, el("pre", { class: "mono consent-diff" }, diff.join("\n")),
        el("button", { class: "primary approve-consent", type: "button", onclick: () => approveConsent(s.name) }, "Approve"))
    : el("span", { class: "muted" }, "—");
  return el("tr", { "data-skill": s.name },
    el("td", { class: "mono" }, s.name),
    el("td", {}, s.version),
    el("td", {}, s.publisher || "(none)"),
    el("td", { class: "verified", "data-verified": String(s.verified) }, s.verified ? `signed · key ${s.key_id.slice(0, 12)}` : "unsigned (local)"),
    el("td", { class: "scan", "data-verdict": s.scan_verdict || "none", title: (s.scan_findings || []).join("\n") }, s.scan_verdict || "not scanned"),
    el("td", {}, consent));
}

// The same lines the CLI shows (`+ host …`), from the lockfile's consent_diff.
function consentLines(d) {
  if (!d) return [];
  const out = [];
  for (const h of d.hosts || []) out.push(`+ host ${h}`);
  for (const p of d.paths || []) out.push(`+ path ${p}`);
  for (const p of d.permissions || []) out.push(`+ permission ${p}`);
  for (const s of d.secrets || []) out.push(`+ secret ${s}`);
  if (d.runtime) out.push(`+ runtime ${d.runtime}`);
  if (d.image) out.push(`+ image ${d.image}`);
  return out;
}

async function approveConsent(name) {
  try {
    await api("POST", `/api/v1/marketplace/skills/${encodeURIComponent(name)}/consent`);
    toast(`${name}: the update's permissions are approved`);
    go("/ui/registry");
  } catch (e) { toast(e.message, true); }
}

async function registryLogCard(skills) {
  const card = el("div", { class: "card", id: "registry-log" }, el("h2", {}, "Transparency log"));
  const signed = skills.find((s) => s.verified);
  let status;
  try { status = await api("GET", "/api/v1/marketplace/log"); }
  catch (e) {
    if (e.code !== "registry_required" || !signed) { card.append(el("p", { class: "muted", id: "log-error" }, e.message)); return card; }
    try { status = await api("GET", "/api/v1/marketplace/log?registry=" + encodeURIComponent(signed.registry)); }
    catch (e2) { card.append(el("p", { class: "error", id: "log-error" }, e2.message)); return card; }
  }
  const ok = status.consistent;
  card.setAttribute("data-consistent", String(ok));
  card.append(
    el("p", {}, "Registry ", el("span", { class: "mono", id: "log-registry" }, status.registry)),
    el("p", {}, "Checkpoint size ", el("b", { id: "log-size" }, status.size ?? "?"), " · root ",
      el("span", { class: "mono", id: "log-root" }, status.root ?? "?")),
    el("p", {}, "Last seen by an install: ", status.seen_size === null ? "none yet"
      : el("span", {}, el("b", { id: "log-seen-size" }, status.seen_size), " · ", el("span", { class: "mono" }, status.seen_root))),
    el("p", { id: "log-consistency", class: ok ? "ok" : "error" },
      ok ? "consistent with the last checkpoint seen" : `not consistent: ${status.problem}: ${status.message}`));
  if (!status.log_key_pinned) card.append(el("p", { class: "muted" }, "The log key is not pinned yet (nothing installed from this registry)."));
  return card;
}

registerPage(/^\/ui\/registry(\/.*)?$/, "nav-registry", registryView);
