"use strict";
// Kitchen display: open tickets for one station (or all), live over the events WebSocket;
// a bump moves the order one step (placed -> accepted -> preparing -> ready); the ticket's
// colour says how long it has waited.
const { $, t, el } = SN;
const KITCHEN = ["placed", "accepted", "preparing"];
const NEXT = { placed: "accepted", accepted: "preparing", preparing: "ready" };
const AGE_WARN_S = 5 * 60, AGE_LATE_S = 10 * 60;
let stations = [];
const pending = new Set();

SN.messages({
  "kds.title": ["后厨", "Kitchen"], "kds.station": ["工位", "Station"], "kds.all": ["全部工位", "All stations"],
  "kds.empty": ["暂无待制作订单", "No open tickets"], "kds.bump.accepted": ["接单", "Accept"],
  "kds.bump.preparing": ["开始制作", "Start"], "kds.bump.ready": ["出餐", "Ready"],
  "kds.table": ["桌号 {t}", "Table {t}"], "kds.pickup": ["自取", "Pickup"],
});

const live = liveOrders({ statuses: KITCHEN, onChange: render,
  onState: (up) => { $("live").textContent = up ? t("net.live") : t("net.reconnecting"); $("live").className = up ? "live up" : "live down"; } });

SN.onLang(() => { renderStations(); render(live.orders); });
SN.loginForm((f) => SN.api("POST", "/auth/login", { staff: f.staff, pin: f.pin }), start);
$("logout").addEventListener("click", () => live.stop());

async function start() {
  $("store").textContent = (await SN.api("GET", "/health")).store;
  const items = await SN.api("GET", "/catalog/items");
  stations = [...new Set(items.map((i) => i.station).filter(Boolean))].sort();
  renderStations();
  live.start();
}

function renderStations() {
  const select = $("station"), current = select.value || localStorage.getItem("kds.station") || "";
  select.replaceChildren(el("option", { value: "", textContent: t("kds.all") }),
                         ...stations.map((s) => el("option", { value: s, textContent: s })));
  select.value = stations.includes(current) ? current : "";
}
$("station").addEventListener("change", () => { localStorage.setItem("kds.station", $("station").value); render(live.orders); });

function ageClass(order, now) {
  const age = (now - Date.parse(order.created_at)) / 1000;
  return age >= AGE_LATE_S ? "age-late" : age >= AGE_WARN_S ? "age-warn" : "age-new";
}

function ageText(order, now) {
  const s = Math.max(0, Math.floor((now - Date.parse(order.created_at)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render(orders) {
  const station = $("station").value, now = Date.now();
  const open = [...orders.values()].filter((o) => KITCHEN.includes(o.status))
    .filter((o) => !station || o.lines.some((l) => l.station === station))
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  $("tickets").replaceChildren(...open.map((o) => {
    const lines = o.lines.filter((l) => !station || l.station === station);
    const next = NEXT[o.status];
    return el("article", { class: "ticket " + ageClass(o, now), dataset: { id: o.id, number: String(o.number), status: o.status } },
      el("h3", {}, el("span", { class: "number", textContent: "#" + o.number }),
         el("span", { class: "age", dataset: { created: o.created_at }, textContent: ageText(o, now) })),
      el("p", { class: "meta", textContent: [t("channel." + o.channel), o.table ? t("kds.table", { t: o.table }) : "",
                                              o.pickup ? t("kds.pickup") : "", t("status." + o.status)].filter(Boolean).join(" · ") }),
      el("ul", {}, ...lines.map((l) => el("li", {}, el("b", { textContent: `${l.qty}× ` }), l.name,
                                           station ? null : el("small", { textContent: ` [${l.station}]` }),
                                           l.note ? el("div", { class: "note", textContent: l.note }) : null))),
      el("button", { type: "button", class: "bump", disabled: pending.has(o.id), textContent: t("kds.bump." + next),
                     onclick: () => bump(o, next) }));
  }));
  $("empty").hidden = open.length > 0;
}

async function bump(order, to) {
  if (pending.has(order.id)) return;  // a double tap sends one transition
  pending.add(order.id); render(live.orders);
  try {
    const moved = await SN.api("POST", `/orders/${order.id}/transitions`, { to });
    if (RANK[moved.status] >= RANK[(live.orders.get(order.id) || order).status]) live.orders.set(order.id, moved);
  } catch (err) {
    if (err.status === 409) {  // moved already (another screen): take the server's view
      try { live.orders.set(order.id, await SN.api("GET", `/orders/${order.id}`)); } catch (e) { /* offline */ }
    }
  } finally {
    pending.delete(order.id); render(live.orders);
  }
}

setInterval(() => {
  const now = Date.now();
  for (const ticket of document.querySelectorAll(".ticket")) {
    const order = live.orders.get(ticket.dataset.id);
    if (!order) continue;
    ticket.classList.remove("age-new", "age-warn", "age-late"); ticket.classList.add(ageClass(order, now));
    ticket.querySelector(".age").textContent = ageText(order, now);
  }
}, 1000);
