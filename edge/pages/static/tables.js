"use strict";
// POS table view: the floor (status, guests, total, open calls, which orders came from the
// guest's phone), open / move / close / mark free, and the guests' calls at once through the
// events WebSocket (table.*). An order placed with a table chosen joins its seating.
(function () {
  const { $, t, api, el, yuan } = SN;
  const floor = { tables: [], socket: null, delay: 500, lastSeq: null, armed: null };
  SN.messages({
    "tables.title": ["桌台", "Tables"], "tables.none": ["不指定桌台", "No table"],
    "tables.status.free": ["空闲", "free"], "tables.status.seated": ["就餐中", "seated"],
    "tables.status.bill": ["待结账", "bill"], "tables.status.cleaning": ["待清台", "cleaning"],
    "tables.guests": ["{n} 位", "{n} guests"], "tables.open": ["开台", "Open"],
    "tables.close": ["结束", "Close"], "tables.force": ["强制结束（有未付）", "Force close (unpaid)"],
    "tables.move": ["换桌到…", "Move to…"], "tables.free": ["已清台", "Cleaned"],
    "tables.ack": ["知道了", "Got it"], "tables.fromguest": ["扫码 {n} 单", "{n} from guests"],
    "call.waiter": ["呼叫服务员", "calls a waiter"], "call.bill": ["要结账", "asks for the bill"],
    "call.water": ["要加水", "asks for water"],
    "tables.call": ["{table} {kind}", "{table} {kind}"],
    "tables.unpaid": ["有未付订单：{n}", "Unpaid orders: {n}"],
    "tables.fail": ["未完成：{why}", "Not done: {why}"],
    "feedback.alert": ["差评：{n} 号单 {score} 分 {comment}", "Low score: order {n} rated {score} {comment}"],
  });

  async function load() {
    try { floor.tables = await api("GET", "/tables"); } catch (err) { return; }
    render();
  }

  async function act(path, body) {
    const result = $("tables-result");
    try { await api("POST", path, body); result.textContent = ""; }
    catch (err) {
      const data = err.data || {};
      if (data.error === "unpaid_orders") floor.armed = path.split("/")[2];  // a manager may force
      result.className = "error";
      result.textContent = data.error === "unpaid_orders" ? t("tables.unpaid", { n: data.detail.orders.length })
        : t("tables.fail", { why: data.error || err.message });
    }
    await load();
  }

  function calls(table) {
    return table.calls.map((c) => el("span", { class: "call", dataset: { call: String(c.id) } },
      t("call." + c.kind) + " ",
      el("button", { type: "button", class: "ack", textContent: t("tables.ack"),
                     onclick: () => act(`/tables/${table.id}/calls/${c.id}/ack`, {}) })));
  }

  function actions(table) {
    const s = table.session, manager = SN.session.role === "manager";
    if (!s) {
      const guests = el("input", { type: "number", min: "1", max: "100", value: String(Math.min(table.seats, 2)), class: "guests" });
      return [guests, el("button", { type: "button", class: "open", textContent: t("tables.open"),
        onclick: () => act(`/tables/${table.id}/open`, { guests: Number(guests.value) || 1 }) }),
        table.status === "cleaning" ? el("button", { type: "button", class: "free", textContent: t("tables.free"),
          onclick: () => act(`/tables/${table.id}/status`, { to: "free" }) }) : null];
    }
    const free = floor.tables.filter((x) => !x.session && x.id !== table.id);
    const target = el("select", { class: "move-to" }, el("option", { value: "", textContent: t("tables.move") }),
      ...free.map((x) => el("option", { value: x.id, textContent: x.name })));
    target.addEventListener("change", () => { if (target.value) act(`/tables/${table.id}/move`, { to: target.value }); });
    const armed = floor.armed === table.id;
    return [target, el("button", { type: "button", class: "close", textContent: t("tables.close"),
      onclick: () => act(`/tables/${table.id}/close`, {}) }),
      manager && armed ? el("button", { type: "button", class: "force", textContent: t("tables.force"),
        onclick: () => act(`/tables/${table.id}/close`, { force: true }) }) : null];
  }

  function render() {
    const list = $("tables");
    if (!list) return;
    list.replaceChildren(...floor.tables.map((table) => {
      const s = table.session;
      return el("li", { class: "table t-" + table.status, dataset: { table: table.id, status: table.status } },
        el("b", { textContent: table.name }), " ",
        el("span", { class: "status", textContent: t("tables.status." + table.status) }), " ",
        s ? el("span", { class: "seating" },
          (s.guests ? t("tables.guests", { n: s.guests }) + " · " : "") + yuan(s.total_cents) +
          (s.guest_orders.length ? " · " + t("tables.fromguest", { n: s.guest_orders.length }) : "")) : null,
        ...calls(table), el("div", { class: "table-actions" }, ...actions(table)));
    }));
    floor.armed = null;
    const select = $("order-table");
    if (select) {
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", textContent: t("tables.none") }),
        ...floor.tables.map((x) => el("option", { value: x.id, textContent: `${x.name} · ${t("tables.status." + x.status)}` })));
      select.value = floor.tables.some((x) => x.id === chosen) ? chosen : "";
    }
  }

  function banner(event) {
    const d = event.data, table = floor.tables.find((x) => x.id === d.table);
    const box = $("tables-result");
    box.className = "call-alert";
    box.textContent = t("tables.call", { table: table ? table.name : d.table, kind: t("call." + d.kind) });
  }

  // a low score after the visit (here or through HQ): a manager can go to the guest now
  function feedbackAlert(event) {
    const d = event.data, box = $("tables-result");
    box.className = "feedback-alert";
    box.textContent = t("feedback.alert", { n: d.number ?? "?", score: d.score, comment: d.comment || "" });
  }

  function listen() {
    if (floor.socket || !SN.session.token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const after = floor.lastSeq === null ? "" : `&after=${floor.lastSeq}`;
    const ws = (floor.socket = new WebSocket(`${proto}//${location.host}/api/v1/events?token=${encodeURIComponent(SN.session.token)}${after}`));
    ws.onopen = () => { floor.delay = 500; load(); };
    ws.onmessage = (msg) => {
      const event = JSON.parse(msg.data);
      if (typeof event.seq === "number") floor.lastSeq = event.seq;
      if (!event.type) return;
      if (event.type === "table.call") banner(event);
      if (event.type === "feedback.alert") feedbackAlert(event);
      if (event.type.startsWith("table.") || (event.data && event.data.order && event.data.order.table)) load();
    };
    ws.onclose = () => {
      if (floor.socket !== ws) return;
      floor.socket = null;
      setTimeout(listen, floor.delay);
      floor.delay = Math.min(floor.delay * 2, 8000);
    };
  }

  SN.onLang(render);
  // the order's table, for pos.js: "" for none
  SN.tables = { start() { load(); listen(); }, chosen: () => ($("order-table") || {}).value || "" };
})();
