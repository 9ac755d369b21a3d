"use strict";
// POS waitlist view: today's open tickets per queue (A/B/C by party size) with call (prints the
// number on the receipt printer when "print" is ticked) / seat at a table / skip / cancel, and a
// form to issue a ticket. Refreshed after every action and every 5 s (guests take tickets at the
// door). docs/waitlist.md.
(function () {
  const { $, t, api, el } = SN;
  const view = { timer: null, tables: [] };
  SN.messages({
    "wl.title": ["排队", "Waitlist"], "wl.party": ["人数", "Party"], "wl.phone": ["手机（选填）", "Phone (optional)"],
    "wl.issue": ["取号", "Issue"], "wl.issued": ["{ticket}：前面 {ahead} 桌，约 {wait} 分钟", "{ticket}: {ahead} ahead, ~{wait} min"],
    "wl.print": ["叫号打印", "print calls"], "wl.none": ["无人排队", "Nobody waiting"],
    "wl.call": ["叫号", "Call"], "wl.seat": ["入座", "Seat"], "wl.skip": ["过号", "Skip"], "wl.cancel": ["取消", "Cancel"],
    "wl.table": ["桌台", "table"], "wl.called": ["已叫 {n} 次", "called ×{n}"],
    "wl.queue": ["{queue} 队（{parties} 人）约 {turn} 分钟/桌", "Queue {queue} ({parties}) ~{turn} min/turn"],
    "wl.fail": ["未完成：{why}", "Not done: {why}"],
  });

  function say(text, ok) {
    const box = $("wl-result");
    box.className = ok ? "ok" : "error";
    box.textContent = text;
  }

  async function load() {
    let found;
    try {
      found = await api("GET", "/waitlist");
      view.tables = (await api("GET", "/tables")).filter((tb) => !tb.session);
    } catch (err) { return; }
    render(found);
  }

  async function move(ticket, to, extra) {
    const body = Object.assign({ to }, extra || {});
    if (to === "called" && $("wl-print").checked) body.print = true;
    try { await api("POST", `/waitlist/${ticket.id}/transitions`, body); say("", true); }
    catch (err) { say(t("wl.fail", { why: (err.data && err.data.error) || err.message }), false); }
    await load();
    if (to === "seated" && SN.tables) SN.tables.start();
  }

  function row(ticket) {
    const tables = el("select", { class: "wl-table", title: t("wl.table") },
      el("option", { value: "", textContent: "—" }),
      ...view.tables.map((tb) => el("option", { value: tb.id, textContent: `${tb.name} (${tb.seats})` })));
    const seat = () => move(ticket, "seated", tables.value ? { table: tables.value } : {});
    return el("li", { class: "wl-ticket", dataset: { ticket: ticket.ticket, status: ticket.status } },
      el("b", { textContent: ticket.ticket }), ` · ${ticket.party} · ${ticket.issued_at.slice(11, 16)}Z `,
      ticket.phone ? el("small", { textContent: ticket.phone.slice(-4) + " " }) : null,
      ticket.calls ? el("small", { textContent: t("wl.called", { n: ticket.calls }) + " " }) : null,
      el("div", { class: "wl-actions" },
        el("button", { type: "button", class: "wl-call", textContent: t("wl.call"), onclick: () => move(ticket, "called") }),
        tables,
        el("button", { type: "button", class: "wl-seat", textContent: t("wl.seat"), onclick: seat }),
        el("button", { type: "button", class: "wl-skip", textContent: t("wl.skip"), onclick: () => move(ticket, "skipped") }),
        el("button", { type: "button", class: "wl-cancel", textContent: t("wl.cancel"), onclick: () => move(ticket, "cancelled") })));
  }

  function render(found) {
    const list = $("waitlist");
    if (!list) return;
    const items = [];
    for (const q of found.queues) {
      const open = q.called.concat(q.waiting);
      if (!open.length) continue;
      items.push(el("li", { class: "wl-queue", textContent: t("wl.queue", { queue: q.queue, parties: q.parties, turn: q.turn_min }) }));
      items.push(...open.map(row));
    }
    list.replaceChildren(...(items.length ? items : [el("li", { class: "empty", textContent: t("wl.none") })]));
  }

  async function issue(event) {
    event.preventDefault();
    const f = event.target.elements, body = { party: Number(f.party.value) };
    if (f.phone.value.trim()) body.phone = f.phone.value.trim();
    try {
      const tk = await api("POST", "/waitlist", body);
      say(t("wl.issued", { ticket: tk.ticket, ahead: tk.ahead, wait: tk.wait_min }), true);
      event.target.reset();
    } catch (err) { say(t("wl.fail", { why: (err.data && err.data.error) || err.message }), false); }
    await load();
  }

  function mount() {
    const box = $("waitlist-box");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    const form = el("form", { id: "wl-form" },
      el("input", { name: "party", type: "number", min: "1", max: "100", value: "2", required: true, title: t("wl.party") }),
      el("input", { name: "phone", maxLength: 32, inputMode: "tel", placeholder: t("wl.phone") }),
      el("button", { type: "submit", textContent: t("wl.issue") }));
    form.addEventListener("submit", issue);
    box.append(form, el("label", {}, el("input", { id: "wl-print", type: "checkbox", checked: true }), " " + t("wl.print")),
      el("p", { id: "wl-result", role: "alert" }), el("ul", { id: "waitlist" }));
  }

  SN.waitlist = {
    start() {
      mount(); load();
      if (!view.timer) view.timer = setInterval(load, 5000);
    },
  };
})();
