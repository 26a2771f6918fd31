// Nexflow web UI: browsing a registry from the Registry page. Search (name, tag, text) in
// pages; a package's page with its versions (yanked, removed with the reason), what it asks
// for, its scan verdict and findings, its signature as this home's trust store judges it,
// what is installed here, and an Install / Update button that goes through the verified
// install path (consent, cooldown and every check apply; a refusal shows its code).
// Everything shown comes from a registry nobody vouched for: every value is set as text.
// Loaded after registry.js and app.js, uses their helpers (el, api, toast, go).
"use strict";

const BROWSE_PAGE = 20;

function registryQuery(extra) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(extra)) if (v) params.set(k, v);
  const text = params.toString();
  return text ? "?" + text : "";
}

function packageHref(name, registry) {
  return `/ui/registry/packages/${encodeURIComponent(name)}` + registryQuery({ registry });
}

// The search card: a form that keeps its values in the page's address, and a results table
// that grows a page at a time.
function browseCard() {
  const given = queryParams(["q", "tag", "registry"]);
  const q = el("input", { id: "browse-q", name: "q", value: given.q || "", maxlength: 200, placeholder: "name or text" });
  const tag = el("input", { id: "browse-tag", name: "tag", value: given.tag || "", maxlength: 64, placeholder: "exact tag" });
  const registry = el("input", { id: "browse-registry", name: "registry", value: given.registry || "", maxlength: 2000,
                                 placeholder: "the configured registry", class: "mono" });
  const form = el("form", { class: "filters", id: "browse-form" },
    el("label", {}, "Search", q), el("label", {}, "Tag", tag), el("label", {}, "Registry URL", registry),
    el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", id: "browse-search" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go("/ui/registry" + registryQuery({ q: q.value.trim(), tag: tag.value.trim(), registry: registry.value.trim(), browse: "1" }));
  });
  const card = el("div", { class: "card", id: "registry-browse" }, el("h2", {}, "Browse"), form);
  if (given.q || given.tag || given.registry || new URLSearchParams(location.search).get("browse")) {
    card.append(browseResults(given));
  }
  return card;
}

function browseResults(given) {
  const body = el("tbody", { id: "browse-rows" });
  const status = el("p", { class: "muted", id: "browse-status" }, "Searching…");
  const more = el("button", { type: "button", id: "browse-more", hidden: true }, "More results");
  const box = el("div", { id: "browse-results" }, status,
    el("table", { id: "browse-table" },
      el("thead", {}, el("tr", {}, ["Package", "Version", "Publisher", "Description", "Tags"].map((h) => el("th", {}, h)))),
      body),
    el("div", { class: "actions" }, more));
  let cursor = null, shown = 0;
  async function page() {
    more.disabled = true;
    try {
      const r = await api("GET", "/api/v1/marketplace/search" + registryQuery({ ...given, limit: String(BROWSE_PAGE), cursor }));
      for (const hit of r.results) body.append(hitRow(hit, given.registry || ""));
      shown += r.results.length;
      cursor = r.next_cursor;
      more.hidden = !cursor;
      status.textContent = shown ? `${shown} package${shown === 1 ? "" : "s"} from ${r.registry}${cursor ? " (more below)" : ""}`
                                 : `No package in ${r.registry} matches.`;
      status.className = "muted";
    } catch (e) {
      status.className = "error";
      status.dataset.code = e.code || "";
      status.textContent = `${e.code || "error"}: ${e.message}`;
    } finally { more.disabled = false; }
  }
  more.addEventListener("click", page);
  page();
  return box;
}

function hitRow(hit, registry) {
  return el("tr", { "data-package": hit.name },
    el("td", {}, el("a", { href: packageHref(hit.name, registry), "data-nav": true, class: "package-link mono" }, hit.name)),
    el("td", {}, hit.version),
    el("td", {}, hit.publisher),
    el("td", { class: "description" }, hit.description),
    el("td", { class: "mono" }, hit.tags.join(", ")));
}

// ---- one package ---------------------------------------------------------------------------

async function packageView(main, name) {
  const registry = queryParams(["registry"]).registry || "";
  main.append(el("p", {}, el("a", { href: "/ui/registry" + registryQuery({ registry, browse: "1" }), "data-nav": true, id: "back-to-browse" }, "← Registry")));
  let p;
  try { p = await api("GET", `/api/v1/marketplace/packages/${encodeURIComponent(name)}` + registryQuery({ registry })); }
  catch (e) {
    main.append(el("h1", {}, name), el("p", { class: "error", id: "package-error", "data-code": e.code || "" }, `${e.code || "error"}: ${e.message}`));
    return;
  }
  const sig = p.signature;
  main.append(...[
    el("h1", {}, el("span", { class: "mono", id: "pkg-name" }, p.name), " ", el("span", { class: "muted", id: "pkg-shown" }, p.shown)),
    el("p", { id: "pkg-description" }, p.description),
    p.tags.length ? el("p", { class: "mono muted", id: "pkg-tags" }, p.tags.join(", ")) : null,
    el("p", { class: "muted" }, "From ", el("span", { class: "mono", id: "pkg-registry" }, p.registry)),
    p.review ? el("p", { class: "error", id: "pkg-review" }, `name ${p.review} for an admin's review (close to ${p.similar_to.join(", ")})`) : null,
    el("div", { class: "card", id: "pkg-publisher-card" }, el("h2", {}, "Publisher"),
      el("p", {}, el("b", { id: "pkg-publisher" }, p.publisher), " · ",
        el("span", { id: "pkg-publisher-verified", "data-verified": String(p.publisher_verified), class: p.publisher_verified ? "ok" : "muted" },
          p.publisher_verified ? "publisher verified: its key is pinned here" : "publisher not verified here"))),
    el("div", { class: "card", id: "pkg-signature", "data-key-status": sig.key_status, "data-valid": String(sig.valid) },
      el("h2", {}, "Signature"),
      sig.signed ? el("p", {}, "Key ", el("span", { class: "mono", id: "pkg-key-id" }, sig.key_id)) : null,
      el("p", { class: sig.valid === false || ["untrusted", "revoked"].includes(sig.key_status) ? "error" : sig.valid ? "ok" : "muted", id: "pkg-signature-status" },
        sig.valid === false ? `signature does NOT verify: ${sig.message}` : `${sig.key_status.replace("_", " ")}: ${sig.message}`),
      el("p", { class: "muted" }, "An install also checks the archive's digest and its inclusion in the registry's log.")),
    requestsCard(p.requests),
    scanCard(p.scan_verdict, p.scan_findings),
    installCard(p),
    versionsTable(p)].filter(Boolean));
}

function requestsCard(r) {
  const card = el("div", { class: "card", id: "pkg-requests" }, el("h2", {}, "Asks for"));
  if (!r) { card.append(el("p", { class: "muted", id: "pkg-requests-unknown" }, "Not recorded by the registry (published before it recorded requests).")); return card; }
  const items = [];
  for (const [kind, values] of [["host", r.hosts], ["path", r.paths], ["permission", r.permissions], ["secret", r.secrets]]) {
    for (const v of values) items.push(el("li", { "data-kind": kind }, `${kind} `, el("span", { class: "mono" }, v)));
  }
  if (r.runtime) items.push(el("li", { "data-kind": "runtime" }, "runtime ", el("span", { class: "mono" }, r.runtime)));
  if (r.image) items.push(el("li", { "data-kind": "image" }, "image ", el("span", { class: "mono" }, r.image)));
  card.append(items.length ? el("ul", { id: "pkg-request-list" }, items) : el("p", { class: "muted" }, "Nothing beyond running."));
  return card;
}

function scanCard(verdict, findings) {
  return el("div", { class: "card", id: "pkg-scan", "data-verdict": verdict },
    el("h2", {}, "Scan: ", el("span", { class: verdict === "clean" ? "ok" : "error", id: "pkg-verdict" }, verdict)),
    findings.length
      ? el("ul", { id: "pkg-findings" }, findings.map((f) =>
          el("li", { "data-rule": f.rule }, el("span", { class: "mono" }, `${f.file}:${f.line} [${f.rule}] ${f.severity}`), " ", f.message)))
      : el("p", { class: "muted" }, "No findings."));
}

function installCard(p) {
  const card = el("div", { class: "card", id: "pkg-install-card" }, el("h2", {}, "Here"));
  const i = p.installed;
  card.append(el("p", { id: "pkg-installed", "data-installed": i ? i.version : "" }, i
    ? `Installed: ${i.version} from ${i.registry}` + (i.verified ? ` (signed, key ${i.key_id.slice(0, 12)})` : " (unsigned)") + (i.consent_pending ? " · an update awaits consent" : "")
    : "Not installed here."));
  const admin = state.user && (state.user.scopes || []).includes("accounts:admin");
  if (!admin || p.action === "installed" || p.action === "none") {
    if (p.action === "none") card.append(el("p", { class: "muted" }, "No installable version (every one is yanked, removed, unsigned or held)."));
    return card;
  }
  const result = el("div", { id: "pkg-install-result" });
  const button = el("button", { class: "primary", type: "button", id: "pkg-install" }, p.action === "update" ? `Update to ${p.latest}` : `Install ${p.latest}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.replaceChildren(el("p", { class: "muted" }, "Verifying and installing…"));
    try {
      const done = await api("POST", "/api/v1/marketplace/install", { spec: p.name, registry: p.registry });
      const s = done.skill;
      result.replaceChildren(
        el("p", { class: "ok", id: "pkg-install-done" }, `${done.changed ? "installed" : "already installed"} ${s.name} ${s.version} (publisher ${s.publisher}, scan ${s.scan_verdict})`),
        ...done.first_use.map((f) => el("p", { class: "muted first-use" }, `pinned on first use: ${f}`)),
        done.consent_required.length ? el("pre", { class: "mono consent-diff" }, done.consent_required.join("\n")) : null,
        el("p", {}, el("a", { href: "/ui/registry", "data-nav": true, id: "pkg-see-installed" }, "See installed skills")));
      toast(`${s.name} ${s.version} installed`);
    } catch (e) {
      result.replaceChildren(el("p", { class: "error", id: "pkg-install-error", "data-code": e.code || "" }, `${e.code || "error"}: ${e.message}`));
      button.disabled = false;
    }
  });
  card.append(el("div", { class: "actions" }, button), result,
    el("p", { class: "muted" }, "The install resolves the latest version (the cooldown applies), verifies it and asks consent for anything an update adds."));
  return card;
}

function versionsTable(p) {
  const rows = p.versions.map((v) => {
    const label = v.removed ? `removed: ${v.removed_reason || "no reason given"}`
      : v.yanked ? `yanked: ${v.yank_reason || "no reason given"}`
      : v.version === p.latest ? "latest" : "";
    return el("tr", { "data-version": v.version, class: v.removed ? "removed" : v.yanked ? "yanked" : null },
      el("td", { class: "mono" }, v.version),
      el("td", {}, fmtTime(v.created_at)),
      el("td", { class: "version-state" }, label),
      el("td", {}, v.scan_verdict),
      el("td", { class: "mono" }, v.signed ? v.key_id.slice(0, 12) : "unsigned"),
      el("td", { class: "mono" }, `sha256:${v.digest.slice(0, 12)}…`));
  });
  return el("div", { class: "card", id: "pkg-versions-card" }, el("h2", {}, "Versions"),
    dataTable("pkg-versions", ["Version", "Published", "State", "Scan", "Key", "Digest"], rows, "No versions."));
}
