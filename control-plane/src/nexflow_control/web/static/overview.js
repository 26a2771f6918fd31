// Nexflow web UI: the overview, calls per hour by outcome (a stacked bar chart) and the
// most frequent denial reasons (bars linking to the log), from GET /api/v1/stats/calls.
// Drawn as plain SVG by this file; every label is text. Loaded after app.js and kit.js.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function hourlyChart(hours) {
  const width = 900, height = 220, left = 36, bottom = 24, top = 8;
  const totals = hours.map((h) => Object.values(h.counts).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const slot = (width - left) / hours.length;
  const scale = (n) => (n / max) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", id: "hourly-chart", role: "img",
                             "aria-label": "calls per hour by outcome" });
  for (const tick of [0, Math.ceil(max / 2), max]) {
    const y = height - bottom - scale(tick);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grid" }),
                 svg("text", { x: left - 4, y: y + 4, class: "axis", "text-anchor": "end" }, tick));
  }
  hours.forEach((h, i) => {
    let y = height - bottom;
    const x = left + i * slot + 1;
    for (const outcome of OUTCOMES) {
      const n = h.counts[outcome] || 0;
      if (!n) continue;
      const tall = scale(n);
      y -= tall;
      const until = new Date(Date.parse(h.hour) + 3600 * 1000).toISOString();
      const calls = `/ui/calls?${new URLSearchParams({ outcome, since: h.hour, until })}`;
      chart.append(svg("a", { href: calls, class: "hour-link" },
        svg("rect", { x, y, width: Math.max(1, slot - 2), height: tall, class: `bar bar-${outcome}`,
                      "data-hour": h.hour, "data-outcome": outcome, "data-count": n },
            svg("title", {}, `${h.hour.slice(0, 13).replace("T", " ")}:00 UTC · ${outcome}: ${n} (click for the calls)`))));
    }
    if (i % Math.ceil(hours.length / 12) === 0) {
      chart.append(svg("text", { x: x + slot / 2, y: height - 6, class: "axis", "text-anchor": "middle" }, h.hour.slice(11, 13) + "h"));
    }
  });
  return chart;
}

function legend(hours) {
  const sums = {};
  for (const h of hours) for (const [o, n] of Object.entries(h.counts)) sums[o] = (sums[o] || 0) + n;
  return el("div", { class: "legend", id: "hourly-legend" },
    OUTCOMES.filter((o) => sums[o]).map((o) =>
      el("a", { href: `/ui/calls?outcome=${o}`, "data-nav": true, class: "legend-item", "data-outcome": o },
        el("span", { class: `swatch bar-${o}` }), `${o} ${sums[o]}`)));
}

function denialChart(denials) {
  const width = 900, row = 26, label = 260;
  const max = Math.max(1, ...denials.map((d) => d.count));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${denials.length * row + 4}`, class: "chart", id: "denial-chart",
                             role: "img", "aria-label": "top denial reasons" });
  denials.forEach((d, i) => {
    const y = i * row + 2;
    const link = svg("a", { href: `/ui/?reason_code=${encodeURIComponent(d.code)}`, class: "denial", "data-code": d.code },
      svg("text", { x: label - 8, y: y + 16, class: "axis code", "text-anchor": "end" }, d.code),
      svg("rect", { x: label, y, height: row - 6, width: Math.max(2, ((width - label - 50) * d.count) / max), class: "bar bar-denied" }),
      svg("text", { x: label + 6 + ((width - label - 50) * d.count) / max, y: y + 16, class: "axis" }, d.count));
    chart.append(link);
  });
  return chart;
}

async function overviewView(main) {
  const hours = Number(new URLSearchParams(location.search).get("hours")) || 24;
  const picker = el("select", { id: "overview-hours", onchange: (e) => go(`/ui/overview?hours=${e.target.value}`) },
    [[24, "last 24 hours"], [72, "last 3 days"], [168, "last 7 days"]].map(([v, t]) => el("option", { value: v, selected: v === hours }, t)));
  main.append(el("h1", {}, "Overview"), el("div", { class: "actions" }, el("label", {}, "Window ", picker)));
  let stats;
  try { stats = await api("GET", `/api/v1/stats/calls?hours=${hours}`); }
  catch (e) { main.append(el("p", { class: "error", id: "overview-error" }, e.message)); return; }
  const total = stats.hours.reduce((a, h) => a + Object.values(h.counts).reduce((x, y) => x + y, 0), 0);
  main.append(el("p", { class: "muted", id: "overview-summary" },
    `${total} call${total === 1 ? "" : "s"} ended between ${fmtTime(stats.since)} and ${fmtTime(stats.until)} (UTC).`));
  const card = (title, ...body) => el("div", { class: "card" }, el("h2", {}, title), ...body);
  main.append(card("Calls per hour by outcome", total
    ? [hourlyChart(stats.hours), legend(stats.hours)]
    : el("p", { class: "muted empty", id: "hourly-empty" }, "No call ended in this window. Run a skill, or pick a longer window.")));
  main.append(card("Top denial reasons", stats.denials.length
    ? denialChart(stats.denials)
    : el("p", { class: "muted empty", id: "denials-empty" }, "Nothing was denied in this window.")));
}

registerPage(/^\/ui\/overview\/?$/, "nav-overview", overviewView);
