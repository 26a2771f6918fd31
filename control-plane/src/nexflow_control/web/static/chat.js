// Nexflow web UI: the chat page (/ui/chat). Sessions on the left, the conversation on the
// right; a turn streams over ws /ws/chat/{session} (reply text as it comes, each tool step
// as it happens). Approve/Deny use the logged-in person's own approvals API (decisionBox in
// app.js): the gateway and the model can never press them. Every server value is text.
"use strict";

const chat = { session: null, busy: false };

function usageLine(u) {
  if (!u) return "";
  return `${u.total_tokens} tokens (${u.prompt_tokens} in, ${u.completion_tokens} out) · ` +
         `$${Number(u.cost_usd).toFixed(6)} · ${u.llm_calls} model calls`;
}

function stepItem(step) {
  const link = step.call_id
    ? el("a", { href: `/ui/calls/${encodeURIComponent(step.call_id)}`, "data-nav": true, class: "call-link" }, step.call_id)
    : null;
  return el("li", { class: "chat-step", "data-tool-call": step.tool_call_id },
    el("span", { class: "mono" }, step.skill || step.tool), " ",
    statusBadge(step.status || "running"), " ", link,
    step.duration_ms ? el("span", { class: "muted" }, ` ${Math.round(step.duration_ms)} ms`) : null,
    step.error ? el("span", { class: "error" }, ` ${step.error}: ${step.message || ""}`) : null);
}

function approvalItem(p, after) {
  const box = el("div", { class: "card chat-approval", "data-approval": p.approval_id },
    el("div", {}, "Waiting for approval: ", el("span", { class: "mono" }, p.skill), " ",
       el("a", { href: `/ui/calls/${encodeURIComponent(p.call_id)}`, "data-nav": true }, p.call_id)),
    el("ul", {}, p.reasons.map((r) => el("li", {}, `${r.code}: ${r.message}`))));
  decisionBox(p.approval_id, after).then((d) => box.append(d));
  return box;
}

function turnView(t) {
  return el("div", { class: "chat-turn" },
    el("div", { class: "chat-msg chat-user" }, t.message),
    el("ol", { class: "chat-steps" }, (t.calls || []).map(stepItem)),
    el("div", { class: "chat-msg chat-assistant" }, t.reply),
    (t.pending_approvals || []).map((p) => approvalItem(p, () => {})),
    t.model ? el("div", { class: "muted chat-model" }, `model: ${t.model}`) : null);
}

async function chatView(main) {
  const list = el("ul", { class: "chat-sessions", id: "chat-sessions" });
  const log = el("div", { class: "chat-log", id: "chat-log" });
  const usage = el("div", { class: "muted", id: "chat-usage" });
  const input = el("textarea", { id: "chat-input", rows: 2, maxlength: 16000, placeholder: "Ask Nexflow, or /help for commands" });
  const send = el("button", { class: "primary", type: "submit", id: "chat-send" }, "Send");
  const form = el("form", { class: "chat-form", id: "chat-form" }, input, send);
  const fresh = el("button", { type: "button", id: "chat-new" }, "New chat");
  main.append(el("h1", {}, "Chat"), el("div", { class: "chat" },
    el("aside", {}, fresh, list), el("section", {}, usage, log, form)));

  async function loadSessions() {
    let data;
    try { data = await api("GET", "/api/v1/sessions"); } catch (e) {
      const note = e.code === "gateway_unavailable" ? e.message : `chat unavailable: ${e.message}`;
      main.replaceChildren(el("h1", {}, "Chat"), el("p", { class: "card", id: "chat-unavailable" }, note));
      return false;
    }
    list.replaceChildren(...data.sessions.map((s) => el("li", { class: s.id === chat.session ? "active" : "" },
      el("a", { href: "#", "data-session": s.id, onclick: (ev) => { ev.preventDefault(); open(s.id); } },
        fmtTime(s.updated_at)), el("div", { class: "muted" }, `${s.turns} turns · $${Number(s.usage.cost_usd).toFixed(4)}`))));
    return true;
  }

  async function open(id) {
    chat.session = id;
    const s = await api("GET", `/api/v1/sessions/${encodeURIComponent(id)}`);
    log.replaceChildren(...s.history.map(turnView));
    usage.textContent = usageLine(s.usage);
    loadSessions();
  }

  fresh.addEventListener("click", () => { chat.session = null; log.replaceChildren(); usage.textContent = ""; loadSessions(); });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || chat.busy) return;
    input.value = "";
    runTurn(text);
  });

  function runTurn(text) {
    chat.busy = true; send.disabled = true;
    const steps = el("ol", { class: "chat-steps" });
    const reply = el("div", { class: "chat-msg chat-assistant streaming" });
    const turn = el("div", { class: "chat-turn" }, el("div", { class: "chat-msg chat-user" }, text), steps, reply);
    log.append(turn);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/chat/${chat.session || "new"}`);
    state.socket = socket;
    const done = () => { chat.busy = false; send.disabled = false; reply.classList.remove("streaming"); };
    socket.onopen = () => socket.send(JSON.stringify({ message: text, csrf: state.csrf }));
    socket.onmessage = (msg) => {
      const f = JSON.parse(msg.data);
      if (f.type === "session") chat.session = f.session_id;
      else if (f.type === "delta") reply.textContent += f.text;
      else if (f.type === "tool.started") steps.append(stepItem({ tool_call_id: f.tool_call_id, skill: f.skill, status: "running" }));
      else if (f.type === "tool.finished") {
        const old = steps.querySelector(`[data-tool-call="${CSS.escape(f.step.tool_call_id)}"]`);
        if (old) old.replaceWith(stepItem(f.step)); else steps.append(stepItem(f.step));
      } else if (f.type === "turn.finished") {
        reply.textContent = f.reply;
        for (const p of f.pending_approvals) turn.append(approvalItem(p, () => {}));
        if (f.model) turn.append(el("div", { class: "muted chat-model" }, `model: ${f.model}`));
        usage.textContent = usageLine(f.session_usage);
        done(); socket.close(); loadSessions();
      } else if (f.type === "error") {
        reply.append(el("span", { class: "error" }, `${f.error}: ${f.message}`));
        done(); socket.close();
      }
    };
    socket.onclose = (ev) => {
      if (chat.busy) {
        reply.append(el("span", { class: "error" }, ` connection closed (${ev.reason || ev.code})`));
        done();
      }
    };
  }

  if (await loadSessions() && chat.session) await open(chat.session);
  input.focus();
}

registerPage(/^\/ui\/chat(\/.*)?$/, "nav-chat", chatView);
