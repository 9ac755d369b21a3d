"use strict";
// Pickup board: order numbers being prepared and ready to collect, live over the events
// WebSocket; the locker compartment of an order put in a pickup locker (locker.* events and
// GET /api/v1/lockers; never its pickup code, which is the customer's).
const { $, t, el } = SN;
const PREPARING = ["placed", "accepted", "preparing"];

SN.messages({
  "pickup.title": ["取餐", "Pickup"], "pickup.preparing": ["制作中", "Preparing"],
  "pickup.ready": ["请取餐", "Ready"], "pickup.locker": ["取餐柜 {c}", "Locker {c}"],
});

const lockers = new Map();  // order id -> "bank-compartment"
const HOLDING = ["loading", "active"];

const live = liveOrders({ statuses: [...PREPARING, "ready"], onChange: render, onEvent: lockerEvent,
  onSnapshot: loadLockers,
  onState: (up) => { $("live").textContent = up ? t("net.live") : t("net.reconnecting"); $("live").className = up ? "live up" : "live down"; } });

SN.onLang(() => render(live.orders));
SN.loginForm((f) => SN.api("POST", "/auth/login", { staff: f.staff, pin: f.pin }), start);
$("logout").addEventListener("click", () => live.stop());

async function start() {
  $("store").textContent = (await SN.api("GET", "/health")).store;
  live.start();
}

const place = (a) => `${a.bank}-${a.compartment}`;

async function loadLockers() {
  let found;
  try { found = await SN.api("GET", "/lockers"); } catch (err) { return; }  // none configured
  lockers.clear();
  for (const a of found.assignments) if (HOLDING.includes(a.state)) lockers.set(a.order_id, place(a));
}

// true when the event changed what the board shows
function lockerEvent(event) {
  const d = event.data || {};
  if (event.type === "locker.assigned") { lockers.set(d.order_id, place(d)); return true; }
  if ((event.type === "locker.opened" && d.state) || event.type === "locker.expired") {
    return d.order_id ? lockers.delete(d.order_id) : false;
  }
  return false;
}

function card(order) {
  const box = lockers.get(order.id);
  return el("li", { dataset: { id: order.id, number: String(order.number) } },
    el("span", { class: "number", textContent: String(order.number) }),
    box ? el("span", { class: "locker", textContent: t("pickup.locker", { c: box }) }) : null);
}

function render(orders) {
  const all = [...orders.values()].sort((a, b) => a.number - b.number);
  $("preparing").replaceChildren(...all.filter((o) => PREPARING.includes(o.status)).map(card));
  $("ready").replaceChildren(...all.filter((o) => o.status === "ready")
    .sort((a, b) => b.updated_at.localeCompare(a.updated_at)).map(card));
}
