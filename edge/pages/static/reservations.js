"use strict";
// POS reservations view: the day's bookings (time, guest, party, table, status) with arrive /
// seat / no-show / cancel, and a form to book by phone or for a walk-in; the table is chosen
// by the store (the smallest free one that seats the party) unless staff pick one. Refreshed
// after every action and every 15 s (bookings made through HQ arrive by the change feed).
(function () {
  const { $, t, api, el } = SN;
  const view = { day: null, timer: null };
  SN.messages({
    "res.title": ["预订", "Reservations"], "res.day": ["日期", "Day"],
    "res.name": ["姓名", "Name"], "res.phone": ["手机", "Phone"], "res.party": ["人数", "Party"],
    "res.time": ["时间", "Time"], "res.table": ["桌台（自动）", "Table (auto)"],
    "res.note": ["备注", "Note"], "res.book": ["预订", "Book"],
    "res.booked": ["已订 {table}（{code}）", "Booked {table} ({code})"],
    "res.none": ["当天没有预订", "No bookings this day"],
    "res.to.arrived": ["到店", "Arrived"], "res.to.seated": ["入座", "Seat"],
    "res.to.no_show": ["未到", "No-show"], "res.to.cancelled": ["取消", "Cancel"],
    "res.status.booked": ["已订", "booked"], "res.status.arrived": ["已到店", "arrived"],
    "res.status.seated": ["已入座", "seated"], "res.status.completed": ["已完成", "done"],
    "res.status.no_show": ["未到", "no-show"], "res.status.cancelled": ["已取消", "cancelled"],
    "res.hq": ["线上", "online"], "res.leased": ["留给线上 {n} 桌", "{n} tables held for online"],
    "res.fail": ["未完成：{why}", "Not done: {why}"],
  });
  const NEXT = { booked: ["arrived", "seated", "no_show", "cancelled"], arrived: ["seated", "cancelled"] };

  function today() {
    const d = new Date();
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  function fail(err) {
    const box = $("res-result");
    box.className = "error";
    box.textContent = t("res.fail", { why: (err.data && err.data.error) || err.message });
  }

  async function load() {
    let found;
    try { found = await api("GET", `/reservations?day=${view.day}`); } catch (err) { return; }
    render(found);
  }

  async function move(r, to) {
    try { await api("POST", `/reservations/${r.id}/transitions`, { to }); $("res-result").textContent = ""; }
    catch (err) { fail(err); }
    await load();
    if (to === "seated" && SN.tables) SN.tables.start();
  }

  function row(r) {
    return el("li", { class: "reservation r-" + r.status, dataset: { reservation: r.id, status: r.status } },
      el("b", { textContent: r.at.slice(11) }), " ", `${r.name || "—"} · ${r.party} · `,
      el("span", { class: "res-table", textContent: r.table }), " ",
      el("span", { class: "status", textContent: t("res.status." + r.status) }),
      r.hq_id ? el("span", { class: "hq", textContent: " " + t("res.hq") }) : null,
      r.note ? el("small", { textContent: " " + r.note }) : null,
      el("div", { class: "res-actions" }, ...(NEXT[r.status] || []).map((to) =>
        el("button", { type: "button", class: "to-" + to, textContent: t("res.to." + to), onclick: () => move(r, to) }))));
  }

  function render(found) {
    const list = $("reservations");
    if (!list) return;
    const held = found.leases.reduce((n, l) => n + l.slots.filter((s) => s.status === "leased").length, 0);
    list.replaceChildren(...(found.reservations.length ? found.reservations.map(row)
      : [el("li", { class: "empty", textContent: t("res.none") })]));
    $("res-leased").textContent = held ? t("res.leased", { n: held }) : "";
  }

  async function book(event) {
    event.preventDefault();
    const f = event.target.elements, body = { party: Number(f.party.value), at: `${view.day}T${f.time.value}`,
      source: f.walkin.checked ? "walk_in" : "phone" };
    if (f.name.value) body.name = f.name.value;
    if (f.phone.value) body.phone = f.phone.value;
    if (f.note.value) body.note = f.note.value;
    if (f.table.value) body.table = f.table.value;
    try {
      const r = await api("POST", "/reservations", body, { "Idempotency-Key": SN.newKey() });
      $("res-result").className = "ok";
      $("res-result").textContent = t("res.booked", { table: r.table, code: r.code });
      event.target.reset();
    } catch (err) { fail(err); }
    await load();
  }

  function mount() {
    const box = $("reservations-box");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    const day = el("input", { type: "date", id: "res-day", value: view.day });
    day.addEventListener("change", () => { view.day = day.value || today(); load(); });
    const form = el("form", { id: "res-form" },
      el("input", { name: "name", maxLength: 60, placeholder: t("res.name") }),
      el("input", { name: "phone", maxLength: 32, inputMode: "tel", placeholder: t("res.phone") }),
      el("input", { name: "party", type: "number", min: "1", max: "100", value: "2", required: true, title: t("res.party") }),
      el("input", { name: "time", type: "time", required: true, step: "900", title: t("res.time") }),
      el("input", { name: "table", maxLength: 16, placeholder: t("res.table") }),
      el("input", { name: "note", maxLength: 300, placeholder: t("res.note") }),
      el("label", {}, el("input", { name: "walkin", type: "checkbox" }), " walk-in"),
      el("button", { type: "submit", textContent: t("res.book") }));
    form.addEventListener("submit", book);
    box.append(el("label", {}, t("res.day") + " ", day), form,
      el("p", { id: "res-result", role: "alert" }), el("p", { id: "res-leased" }),
      el("ul", { id: "reservations" }));
  }

  SN.reservations = {
    start() {
      view.day = view.day || today();
      mount(); load();
      if (!view.timer) view.timer = setInterval(load, 15000);
    },
  };
})();
