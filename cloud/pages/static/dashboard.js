"use strict";
// HQ dashboard: stores online/offline with sync lag; revenue, orders and average ticket by
// channel and by store (charts: the vendored Chart.js); stock alerts; member segments;
// reservations (bookings, no-show rate, waits and their estimate error); conflicts to resolve. Everything comes from this service's own /api/v1.
const { $, t, el, yuan, api } = SN;
const REFRESH_MS = 10000;
const charts = {};
let timer = null, last = null;

SN.messages({
  "hq.title": ["总部看板", "HQ dashboard"], "hq.login": ["总部登录", "HQ login"],
  "hq.user": ["用户名", "User"], "hq.password": ["密码", "Password"],
  "hq.today": ["今天", "Today"], "hq.7d": ["近 7 天", "Last 7 days"],
  "hq.revenue": ["营业额", "Revenue"], "hq.orders": ["订单数", "Orders"], "hq.avg": ["客单价", "Average ticket"],
  "hq.stores": ["门店", "Stores"], "hq.by_channel": ["按渠道", "By channel"], "hq.by_store": ["按门店", "By store"],
  "hq.alerts": ["库存预警", "Stock alerts"], "hq.segments": ["会员分层", "Member segments"],
  "hq.conflicts": ["待处理冲突", "Conflicts to resolve"], "hq.store": ["门店", "Store"],
  "hq.online": ["在线", "online"], "hq.offline": ["离线", "offline"], "hq.last_seen": ["最近在线", "Last seen"],
  "hq.applied": ["已同步序号", "Applied seq"], "hq.lag": ["同步延迟", "Sync lag"],
  "hq.channel": ["渠道", "Channel"], "hq.sku": ["商品", "SKU"], "hq.on_hand": ["库存", "On hand"],
  "hq.safety": ["安全库存", "Safety stock"], "hq.at": ["时间", "At"], "hq.segment": ["分层", "Segment"],
  "hq.members": ["会员数", "Members"], "hq.kind": ["类型", "Kind"], "hq.detail": ["详情", "Detail"],
  "hq.resolve": ["标记已处理", "Mark resolved"], "hq.none": ["无", "None"],
  "hq.updated": ["更新于 {t}", "updated {t}"],
  "hq.reservations": ["预订与排队", "Reservations and waitlist"], "hq.day": ["日期", "Day"],
  "hq.bookings": ["预订数", "Bookings"], "hq.guests": ["人数", "Guests"], "hq.no_shows": ["未到", "No-shows"],
  "hq.source": ["来源", "Source"], "hq.no_show_rate": ["未到率", "No-show rate"],
  "hq.queue": ["队列", "Queue"], "hq.tickets": ["取号数", "Tickets"], "hq.avg_wait": ["平均等位", "Average wait"],
  "hq.wait_error": ["预估误差", "Estimate error"],
  "hq.journey": ["顾客旅程", "Guest journey"], "hq.member_id": ["会员 ID", "Member id"],
  "hq.show": ["查看", "Show"], "hq.what": ["事件", "What"], "hq.where": ["门店 / 渠道", "Store / channel"],
  "hq.journey_of": ["{member}：{n} 条记录，门店 {stores}", "{member}: {n} entries, stores {stores}"], "hq.scene": ["用餐场景", "Dining scene"],
});

SN.onLang(() => { if (last) render(last); });
SN.loginForm((f) => api("POST", "/auth/login", { user: f.user, password: f.password }), start, "password");
$("logout").addEventListener("click", () => clearInterval(timer));
$("period").addEventListener("change", () => refresh());

// one member's timeline across channels and stores (GET /members/{id}/journey); text only
$("journey-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const member = $("journey-member").value.trim();
  let trip;
  try { trip = await api("GET", `/members/${encodeURIComponent(member)}/journey`); }
  catch (err) { $("journey-summary").textContent = (err.data && err.data.error) || err.message; $("journey").replaceChildren(); return; }
  $("journey-summary").textContent = t("hq.journey_of", { member: trip.member, n: trip.events.length, stores: trip.stores.join(", ") || "—" });
  table("journey", ["hq.at", "hq.what", "hq.where", "hq.detail"], trip.events.map((e) => [
    e.at.slice(0, 16).replace("T", " "), e.kind, [e.store, e.channel].filter(Boolean).join(" / ") || "—",
    JSON.stringify(e.detail).slice(0, 200)]));
});

// every item of a paged HQ list (docs/hq-api.md#pagination): ?cursor= until next is null
async function all(path) {
  const sep = path.includes("?") ? "&" : "?";
  let items = [], cursor = "";
  do {
    const page = await api("GET", `${path}${sep}limit=1000&cursor=${encodeURIComponent(cursor)}`);
    items = items.concat(page.items); cursor = page.next;
  } while (cursor);
  return items;
}

async function start() {
  await refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function since() {
  const day = new Date(); day.setHours(0, 0, 0, 0);
  if ($("period").value === "7d") day.setDate(day.getDate() - 6);
  return day.toISOString();
}

async function refresh() {
  if (!SN.session.token) return;
  const from = encodeURIComponent(since());
  // shop-local days: a store east of this browser may be a day ahead
  const days = `from=${localDay(since())}&to=${localDay(new Date(Date.now() + 86400000).toISOString())}`;
  const [stores, segments, conflicts, bookings] = await Promise.all([
    all("/stores"), api("GET", "/segments"), all("/conflicts?resolved=false"),
    api("GET", `/reports/reservations?${days}`)]);
  const perStore = await Promise.all(stores.map(async (s) => {
    const [orders, alerts] = await Promise.all([
      all(`/stores/${s.store}/orders?since=${from}`),
      all(`/stores/${s.store}/stock-alerts`)]);
    return { store: s.store, orders, alerts };
  }));
  last = { stores, segments, conflicts, perStore, bookings, at: new Date() };
  render(last);
}

function tally(orders, keyOf, into = new Map()) {
  for (const o of orders) {
    if (o.status === "cancelled") continue;
    const row = into.get(keyOf(o)) || { revenue: 0, orders: 0 };
    row.revenue += o.total_cents; row.orders += 1; into.set(keyOf(o), row);
  }
  return into;
}

function table(id, head, rows) {
  $(id).replaceChildren(el("tr", {}, ...head.map((h) => el("th", { textContent: t(h) }))),
    ...(rows.length ? rows : [[t("hq.none")]]).map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))));
}

const avg = (r) => (r.orders ? yuan(Math.round(r.revenue / r.orders)) : "—");

function localDay(iso) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

const minutes = (s) => (s === null || s === undefined ? "—" : `${Math.round(s / 60)} min`);

function renderBookings(bookings) {
  table("reservations", ["hq.store", "hq.day", "hq.bookings", "hq.guests", "hq.no_shows"], bookings.bookings.map((b) => [
    b.store, b.day, String(b.bookings), String(b.guests), String(b.no_shows)]));
  table("noshows", ["hq.store", "hq.source", "hq.no_show_rate"], bookings.no_shows.map((r) => [
    r.store, r.source, r.no_show_rate === null ? "—" : `${(r.no_show_rate * 100).toFixed(1)}%`]));
  table("waits", ["hq.store", "hq.queue", "hq.tickets", "hq.avg_wait", "hq.wait_error"], bookings.waits.map((w) => [
    w.store, w.queue, String(w.tickets), minutes(w.avg_wait_s), minutes(w.mean_abs_error_s)]));
}

function render({ stores, segments, conflicts, perStore, bookings, at }) {
  $("updated").textContent = t("hq.updated", { t: at.toLocaleTimeString() });
  table("stores", ["hq.store", "hq.online", "hq.last_seen", "hq.applied", "hq.lag"], stores.map((s) => [
    s.store, el("span", { class: s.online ? "online" : "offline", textContent: t(s.online ? "hq.online" : "hq.offline") }),
    s.last_seen ? new Date(s.last_seen).toLocaleString() : "—", String(s.applied_seq ?? 0),
    s.lag_s === null || s.lag_s === undefined ? "—" : `${Math.round(s.lag_s)} s`]));
  const all = perStore.flatMap((p) => p.orders);
  const total = tally(all, () => "all").get("all") || { revenue: 0, orders: 0 };
  $("k-revenue").textContent = yuan(total.revenue); $("k-orders").textContent = String(total.orders);
  $("k-avg").textContent = avg(total);
  const byChannel = tally(all, (o) => o.channel);
  const byStore = new Map(perStore.map((p) => [p.store, tally(p.orders, () => "x").get("x") || { revenue: 0, orders: 0 }]));
  const rows = (map, label) => [...map].map(([k, r]) => [label(k), yuan(r.revenue), String(r.orders), avg(r)]);
  table("by-channel", ["hq.channel", "hq.revenue", "hq.orders", "hq.avg"], rows(byChannel, (c) => t("channel." + c)));
  table("by-store", ["hq.store", "hq.revenue", "hq.orders", "hq.avg"], rows(byStore, (s) => s));
  chart("chart-channel", [...byChannel.keys()].map((c) => t("channel." + c)), [...byChannel.values()]);
  chart("chart-store", [...byStore.keys()], [...byStore.values()]);
  const alerts = [];
  for (const p of perStore) {
    const latest = new Map();
    for (const a of p.alerts) latest.set(a.sku, a);
    for (const a of latest.values()) if (a.on_hand < a.safety_stock) alerts.push([p.store, a.sku, String(a.on_hand), String(a.safety_stock), a.at.slice(0, 16).replace("T", " ")]);
  }
  table("alerts", ["hq.store", "hq.sku", "hq.on_hand", "hq.safety", "hq.at"], alerts);
  table("segments", ["hq.segment", "hq.members"], Object.entries(segments.segments).map(([s, n]) => [s, String(n)]));
  table("scenes", ["hq.scene", "hq.members"], Object.entries(segments.dining_scenes || {}).map(([s, n]) => [s, String(n)]));
  renderBookings(bookings);
  table("conflicts", ["hq.store", "hq.kind", "hq.detail", "hq.at", ""], conflicts.map((c) => [
    c.store, c.kind, JSON.stringify(c.detail).slice(0, 160), c.created_at.slice(0, 16).replace("T", " "),
    el("button", { type: "button", class: "resolve", textContent: t("hq.resolve"), onclick: () => resolve(c.id) })]));
}

function chart(id, labels, rows) {
  const data = { labels, datasets: [
    { label: t("hq.revenue") + " (¥)", data: rows.map((r) => r.revenue / 100), yAxisID: "y" },
    { label: t("hq.orders"), data: rows.map((r) => r.orders), yAxisID: "y1" }] };
  if (charts[id]) { charts[id].data = data; charts[id].update("none"); return; }
  charts[id] = new Chart($(id), { type: "bar", data, options: {
    animation: false, responsive: true,
    scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } } });
}

async function resolve(id) {
  try { await api("POST", `/conflicts/${id}/resolve`); } catch (err) { if (err.offline) return; }
  await refresh();
}
