"use strict";
// Pickup board: order numbers being prepared and ready to collect, live over the events
// WebSocket; a locker compartment is shown when the order carries one.
const { $, t, el } = SN;
const PREPARING = ["placed", "accepted", "preparing"];

SN.messages({
  "pickup.title": ["取餐", "Pickup"], "pickup.preparing": ["制作中", "Preparing"],
  "pickup.ready": ["请取餐", "Ready"], "pickup.locker": ["取餐柜 {c}", "Locker {c}"],
});

const live = liveOrders({ statuses: [...PREPARING, "ready"], onChange: render,
  onState: (up) => { $("live").textContent = up ? t("net.live") : t("net.reconnecting"); $("live").className = up ? "live up" : "live down"; } });

SN.onLang(() => render(live.orders));
SN.loginForm((f) => SN.api("POST", "/auth/login", { staff: f.staff, pin: f.pin }), start);
$("logout").addEventListener("click", () => live.stop());

async function start() {
  $("store").textContent = (await SN.api("GET", "/health")).store;
  live.start();
}

function locker(order) {
  const found = order.locker;
  if (found === null || found === undefined || found === "") return null;
  const compartment = typeof found === "object" ? found.compartment : found;
  return compartment === undefined || compartment === null ? null : String(compartment);
}

function card(order) {
  const box = locker(order);
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
