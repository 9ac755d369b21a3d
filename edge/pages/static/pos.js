"use strict";
// POS till. Every write carries an Idempotency-Key made once per intended action and kept
// until the server has answered it, so a double tap or a retry never makes two orders or
// two spends. An order is shown as saved only after a 201/200.
const { $, t, api, el, yuan } = SN;
const POINTS_PER_YUAN = 100; // points tender: 100 points pay ¥1
const CHANNELS = Object.keys(VOCABULARY.channels);  // /static/vocabulary.js, from common/vocabulary.py
const OPEN = ["placed", "accepted", "preparing"];
const REFUNDABLE = ["ready", "completed"];
const state = {
  items: [], stock: new Map(), cart: new Map(), category: null, orderKey: null,
  member: null, coupons: new Set(), order: null, payKey: null, cancelArmed: null,
  refundArmed: null, refundRestock: false, refundKeys: new Map(), // order id -> the Idempotency-Key of its refund
};

SN.messages({
  "pos.channel": ["渠道", "Channel"], "pos.all": ["全部", "All"],
  // catalog category codes (config/demo/catalog.csv); an unknown code shows as itself
  "cat.hot": ["热菜", "Hot dishes"], "cat.hot_food": ["热食", "Hot food"], "cat.rice": ["饭类", "Rice"],
  "cat.noodle": ["面食", "Noodles"], "cat.congee": ["粥品", "Congee"], "cat.dim_sum": ["点心", "Dim sum"],
  "cat.dish": ["菜品", "Dishes"], "cat.staple": ["主食", "Staples"], "cat.drink": ["饮料", "Drinks"],
  "cat.coffee": ["咖啡", "Coffee"], "cat.dairy": ["乳品", "Dairy"], "cat.bakery": ["烘焙", "Bakery"],
  "cat.snack": ["零食", "Snacks"], "cat.fresh": ["生鲜", "Fresh"], "cat.daily": ["日用品", "Household"],
  "cat.baby": ["母婴", "Baby"],
  "pos.soldout": ["售罄", "Sold out"], "pos.member": ["会员", "Member"],
  "pos.phone": ["手机号", "Phone"], "pos.code": ["会员码", "Member code"],
  "pos.member.ph": ["手机号或会员码", "phone or member code"], "pos.lookup": ["查询", "Look up"],
  "pos.member.none": ["未找到会员", "No such member"], "pos.member.clear": ["移除会员", "Remove member"],
  "pos.member.unavailable": ["会员功能暂不可用（尚未与总部同步）", "Members unavailable (no HQ sync yet)"],
  "pos.points": ["积分", "Points"], "pos.value": ["储值", "Stored value"],
  "pos.allowance": ["本店可用额度", "Usable here"], "pos.coupons": ["可用优惠券", "Usable coupons"],
  "pos.nocoupons": ["无可用优惠券", "No usable coupons"],
  "pos.cart": ["购物车", "Cart"], "pos.pickup": ["打包自取", "Takeaway pickup"], "pos.note": ["备注", "note"], "pos.reco": ["常一起购买", "Often bought together"],
  "pos.subtotal": ["小计", "Subtotal"], "pos.place": ["下单", "Place order"],
  "pos.retry": ["重试下单（不会重复）", "Retry (never doubles)"],
  "pos.placed": ["订单 #{n} 已保存", "Order #{n} saved"],
  "pos.notsaved": ["未保存：{why}", "NOT saved: {why}"],
  "pos.unknown": ["未收到服务器确认，订单可能未保存 — 请重试", "No answer from the server: the order may not be saved — retry"],
  "pos.outofstock": ["库存不足：{list}", "Out of stock: {list}"],
  "pos.pay": ["收款", "Payment"], "pos.due": ["应收", "Due"], "pos.discount": ["优惠 {d}", "discount {d}"],
  "tender.cash": ["现金收取", "Cash received"], "tender.card": ["刷卡凭证号", "Card terminal ref"],
  "tender.card_amount": ["刷卡金额", "Card amount"], "tender.value": ["储值支付", "Stored value"],
  "tender.points": ["积分抵扣（100积分=¥1）", "Points (100 = ¥1)"],
  "pos.paid": ["已付", "Paid"], "pos.change": ["找零", "Change"], "pos.settle": ["完成收款", "Complete payment"],
  "pos.print": ["打印小票", "Print receipt"], "pos.next": ["下一单", "Next order"],
  "pos.short": ["金额不足，还差 {d}", "Not enough: {d} still due"],
  "pos.cardref": ["请输入刷卡凭证号", "Enter the card terminal reference"],
  "pos.settled": ["收款完成 #{n}", "Paid #{n}"],
  "pos.payfail": ["订单已保存，收款未记录：{why}", "Order saved, payment NOT recorded: {why}"],
  "pos.payunknown": ["未收到服务器确认，收款可能未记录 — 请重试（不会重复扣款）", "No answer: the payment may not be recorded — retry (never charges twice)"],
  "pos.fewpoints": ["积分不足抵扣 ¥0.01（{n} 积分起）", "Too few points for ¥0.01 (at least {n})"],
  "pos.orders": ["订单", "Orders"], "pos.cancel": ["取消", "Cancel"],
  "pos.cancel.confirm": ["确认取消？", "Confirm cancel?"], "pos.complete": ["取餐完成", "Handed over"],
  "pos.refund": ["退款", "Refund"], "pos.refund.confirm": ["确认退款？", "Confirm refund?"],
  "pos.refund.restock": ["退回库存", "Restock"], "pos.refund.reason": ["顾客退款", "Customer refund"],
  "pos.refunded": ["已退款", "Refunded"], "pos.refund.done": ["订单 #{n} 已退款", "Order #{n} refunded"],
  "pos.refund.fail": ["退款未记录：{why}", "Refund NOT recorded: {why}"],
  "pos.refund.unknown": ["未收到服务器确认，退款可能未记录 — 请重试（不会重复退款）", "No answer: the refund may not be recorded — retry (never refunds twice)"],
  "receipt.title": ["小票", "Receipt"], "receipt.total": ["合计", "Total"],
});

SN.onLang(() => { renderChannels(); renderMenu(); renderMember(); renderOrders(state.orders || []); if (state.order) renderPay(); });

SN.loginForm((f) => api("POST", "/auth/login", { staff: f.staff, pin: f.pin }), start);

async function start() {
  const health = await api("GET", "/health");
  $("store").textContent = health.store;
  const [items, stock] = await Promise.all([api("GET", `/catalog/items?channel=${channel()}`), api("GET", "/inventory")]);
  state.items = items; state.itemsChannel = channel();
  state.stock = new Map(stock.map((s) => [s.sku, s]));
  renderChannels(); renderMenu(); await loadOrders();
  if (SN.tables) SN.tables.start();  // /static/tables.js
  if (SN.reservations) SN.reservations.start();  // /static/reservations.js
  if (SN.waitlist) SN.waitlist.start();  // /static/waitlist.js
}

function channel() { return $("channel").value || "pos"; }
function itemName(item) { return (SN.lang === "en" && item.name_en) || item.name; }
// the price charged now: a time-window price rule's (the list names it for its channel), else the channel's
function price(item) {
  if (state.itemsChannel === channel() && item.price_now_cents != null) return item.price_now_cents;
  return (item.channel_prices || {})[channel()] ?? item.price_cents;
}
async function loadItems() {
  const wanted = channel(), items = await api("GET", `/catalog/items?channel=${wanted}`);
  if (wanted !== channel()) return;  // the channel changed again meanwhile
  state.items = items; state.itemsChannel = wanted; renderMenu();
}

function soldOut(item) {
  if (!item.available) return true;
  const level = state.stock.get(item.sku);
  if (!level) return false;  // not stock-tracked
  if (level.on_hand <= 0) return true;
  const quota = (level.quotas || {})[channel()];
  return !!quota && quota.used_today >= quota.limit;
}

function renderChannels() {
  const select = $("channel"), current = select.value || "pos";
  select.replaceChildren(...CHANNELS.map((c) => el("option", { value: c, textContent: t("channel." + c) })));
  select.value = current;
}

$("pickup").addEventListener("change", changed);
$("channel").addEventListener("change", () => { state.orderKey = null; renderMenu(); loadItems().catch(() => {}); if (state.member) lookupMember(state.member.query); });

function categoryName(code) {
  const key = "cat." + code;
  const name = t(key);
  return name === key ? code : name;
}

function renderMenu() {
  const categories = [...new Set(state.items.map((i) => i.category))];
  $("categories").replaceChildren(...[null, ...categories].map((c) => el("button", {
    type: "button", class: c === state.category ? "on" : "", textContent: c === null ? t("pos.all") : categoryName(c),
    onclick: () => { state.category = c; renderMenu(); },
  })));
  const box = $("items"); box.replaceChildren();
  let category;
  for (const item of state.items) {
    if (state.category !== null && item.category !== state.category) continue;
    if (item.category !== category) { category = item.category; box.append(el("h3", { textContent: categoryName(category) })); }
    const out = soldOut(item);
    box.append(el("button", {
      class: "item" + (out ? " soldout" : ""), disabled: out, dataset: { sku: item.sku },
      onclick: () => addToCart(item.sku),
    }, el("span", { textContent: itemName(item) }), el("span", { class: "price", textContent: yuan(price(item)) }),
       out ? el("span", { class: "tag", textContent: t("pos.soldout") }) : null));
  }
  renderCart();
}

function changed() { state.orderKey = null; $("place").textContent = t("pos.place"); }

function addToCart(sku) {
  const line = state.cart.get(sku) || { sku, qty: 0, note: "" };
  line.qty += 1; state.cart.set(sku, line); changed(); renderCart(); suggest();
}

function renderCart() {
  let total = 0;
  $("lines").replaceChildren(...[...state.cart.values()].map((line) => {
    const item = state.items.find((i) => i.sku === line.sku);
    total += price(item) * line.qty;
    return el("li", { dataset: { sku: line.sku } },
      el("span", { class: "name", textContent: itemName(item) }),
      el("button", { type: "button", class: "minus", textContent: "−", onclick: () => {
        line.qty -= 1; if (!line.qty) state.cart.delete(line.sku); changed(); renderCart(); suggest(); } }),
      el("b", { class: "qty", textContent: String(line.qty) }),
      el("button", { type: "button", class: "plus", textContent: "+", onclick: () => addToCart(line.sku) }),
      el("input", { class: "note", placeholder: t("pos.note"), value: line.note, maxLength: 200,
                    oninput: (e) => { line.note = e.target.value; changed(); } }));
  }));
  $("total").textContent = yuan(total);
  $("place").disabled = state.cart.size === 0;
}

let suggestTimer = null;
function suggest() {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(async () => {
    const skus = [...state.cart.keys()].slice(0, 20);
    if (!skus.length) { $("reco").hidden = true; return; }
    let found = [];
    try { found = (await api("GET", "/recommendations?skus=" + encodeURIComponent(skus.join(",")))).recommendations; }
    catch (err) { return; }
    const items = found.map((r) => state.items.find((i) => i.sku === (r.sku || r.then)))
      .filter((i) => i && !state.cart.has(i.sku) && !soldOut(i)).slice(0, 4);
    $("reco").hidden = items.length === 0;
    $("reco-items").replaceChildren(...items.map((i) => el("button", {
      type: "button", class: "reco", dataset: { sku: i.sku }, onclick: () => addToCart(i.sku),
      textContent: `+ ${itemName(i)} ${yuan(price(i))}`,
    })));
  }, 150);
}

// -- members --------------------------------------------------------------------------
$("member-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  lookupMember({ kind: $("member-kind").value, value: $("member-query").value.trim() });
});

async function lookupMember(query) {
  try {
    const found = await api("GET", `/members/lookup?${query.kind}=${encodeURIComponent(query.value)}&channel=${channel()}`);
    const same = state.member && state.member.id === found.id;
    state.member = { ...found, query };
    if (!same) state.coupons.clear();
    for (const code of [...state.coupons]) if (!found.coupons.some((c) => c.code === code)) state.coupons.delete(code);
  } catch (err) {
    state.member = null; state.coupons.clear();
    $("member").textContent = err.status === 404 ? t("pos.member.none")
      : err.status === 503 ? t("pos.member.unavailable") : err.message;
    changed(); return;
  }
  changed(); renderMember();
}

function couponLabel(c) {
  const off = c.kind === "percent_off" ? `${c.value}%` : c.kind === "amount_off" ? yuan(c.value) : c.kind;
  return `${c.code} · ${off}` + (c.min_spend ? ` (≥${yuan(c.min_spend)})` : "");
}

function renderMember() {
  const m = state.member, box = $("member");
  if (!m) { box.replaceChildren(); return; }
  const allowance = m.allowance ? `${m.allowance.points} / ${yuan(m.allowance.value_cents)}` : "0";
  box.replaceChildren(
    el("p", { class: "member-name", textContent: m.name || m.identities.map((i) => "*" + (i.last4 || "")).join(" ") }),
    el("p", {}, `${t("pos.points")}: `, el("b", { id: "m-points", textContent: String(m.points) }),
       ` · ${t("pos.value")}: `, el("b", { id: "m-value", textContent: yuan(m.value_cents) }),
       ` · ${t("pos.allowance")}: ${allowance}`),
    el("p", { textContent: m.coupons.length ? t("pos.coupons") : t("pos.nocoupons") }),
    ...m.coupons.map((c) => el("label", { class: "coupon" }, el("input", {
      type: "checkbox", value: c.code, checked: state.coupons.has(c.code),
      onchange: (e) => { e.target.checked ? state.coupons.add(c.code) : state.coupons.delete(c.code); changed(); },
    }), " " + couponLabel(c))),
    el("button", { type: "button", textContent: t("pos.member.clear"),
                   onclick: () => { state.member = null; state.coupons.clear(); changed(); renderMember(); } }));
}

// -- placing an order -----------------------------------------------------------------
$("place").addEventListener("click", async () => {
  const button = $("place");
  if (button.disabled) return;
  button.disabled = true;
  state.orderKey = state.orderKey || SN.newKey();  // kept until the server answers
  const body = {
    channel: channel(),
    lines: [...state.cart.values()].map((l) => ({ sku: l.sku, qty: l.qty, ...(l.note ? { note: l.note } : {}) })),
    ...(state.member ? { member: state.member.id } : {}),
    ...(state.coupons.size ? { coupons: [...state.coupons] } : {}),
    ...($("pickup").checked ? { pickup: true } : {}),
    ...(SN.tables && SN.tables.chosen() ? { table: SN.tables.chosen() } : {}),
  };
  const result = $("result");
  try {
    const order = await api("POST", "/orders", body, { "Idempotency-Key": state.orderKey });
    result.className = "ok"; result.textContent = t("pos.placed", { n: order.number });
    state.orderKey = null; state.cart.clear(); $("pickup").checked = false; button.textContent = t("pos.place");
    openPayment(order); renderCart(); refreshStock(); loadOrders();
    if (state.member) lookupMember(state.member.query);  // points earned, coupons used
  } catch (err) {
    result.className = "error";
    if (err.offline) {
      result.textContent = t("pos.unknown"); button.textContent = t("pos.retry");
    } else if (err.data && err.data.error === "out_of_stock") {
      state.orderKey = null;
      result.textContent = t("pos.outofstock", { list: err.data.detail.map((d) => `${d.sku} (${d.available})`).join(", ") });
      refreshStock();
    } else {
      state.orderKey = null;
      result.textContent = t("pos.notsaved", { why: err.data && err.data.error ? err.data.error : err.message });
    }
    button.disabled = state.cart.size === 0;
  }
});

async function refreshStock() {
  try { state.stock = new Map((await api("GET", "/inventory")).map((s) => [s.sku, s])); renderMenu(); }
  catch (err) { /* the banner says the server is unreachable */ }
}

// -- payment --------------------------------------------------------------------------
function openPayment(order) {
  state.order = { ...order, memberId: order.member, payment: null };
  state.payKey = null;
  for (const id of TENDER_INPUTS) { $(id).value = ""; $(id).disabled = false; }
  $("pay-result").textContent = ""; $("receipt").textContent = "";
  $("cart").hidden = true; $("pay").hidden = false; $("settle").disabled = false;
  renderPay();
}

const cents = (id) => Math.round((parseFloat($(id).value) || 0) * 100);
const points = () => Math.max(0, parseInt($("t-points").value, 10) || 0);

function tenders() {
  return { cash: cents("t-cash"), card: cents("t-card"), value: cents("t-value"),
           points: points(), pointsCents: Math.floor(points() * 100 / POINTS_PER_YUAN) };
}

function renderPay() {
  const o = state.order;
  $("pay-number").textContent = "#" + o.number;
  $("due").textContent = yuan(o.total_cents);
  $("discount").textContent = o.discount_cents ? t("pos.discount", { d: yuan(o.discount_cents) }) : "";
  for (const node of document.querySelectorAll(".member-only")) node.hidden = !o.memberId;
  const tn = tenders(), paid = tn.cash + tn.card + tn.value + tn.pointsCents;
  $("paid").textContent = yuan(paid);
  const nonCash = tn.card + tn.value + tn.pointsCents;
  $("change").textContent = yuan(Math.max(0, tn.cash - Math.max(0, o.total_cents - nonCash)));
}

const TENDER_INPUTS = ["t-cash", "t-card", "t-card-ref", "t-value", "t-points"];
for (const id of TENDER_INPUTS) $(id).addEventListener("input", renderPay);

function tenderList(tn) {
  const list = [];
  if (tn.value) list.push({ kind: "stored_value", amount_cents: tn.value });
  if (tn.points) list.push({ kind: "points", amount_cents: tn.pointsCents, points: tn.points });
  if (tn.card) list.push({ kind: "card", amount_cents: tn.card, ref: $("t-card-ref").value.trim() });
  if (tn.cash) list.push({ kind: "cash", amount_cents: tn.cash });
  return list;
}

// One Idempotency-Key per payment: kept while the outcome is unknown (no answer), so the
// retry records it once and spends stored value and points once.
$("settle").addEventListener("click", async () => {
  const o = state.order, tn = tenders(), out = $("pay-result");
  if ($("settle").disabled) return;
  const paid = tn.cash + tn.card + tn.value + tn.pointsCents;
  out.className = "error";
  if (paid < o.total_cents) { out.textContent = t("pos.short", { d: yuan(o.total_cents - paid) }); return; }
  if (tn.card && !$("t-card-ref").value.trim()) { out.textContent = t("pos.cardref"); return; }
  if (tn.points && !tn.pointsCents) { out.textContent = t("pos.fewpoints", { n: POINTS_PER_YUAN / 100 }); return; }
  $("settle").disabled = true;
  state.payKey = state.payKey || SN.newKey();
  try {
    const payment = await api("POST", `/orders/${o.id}/payment`, { tenders: tenderList(tn) }, { "Idempotency-Key": state.payKey });
    state.payKey = null; o.payment = payment;
    out.className = "ok"; out.textContent = t("pos.settled", { n: o.number });
    $("receipt").textContent = receipt(o);
    for (const id of TENDER_INPUTS) $(id).disabled = true;
    if (state.member) lookupMember(state.member.query);
  } catch (err) {
    if (!err.offline) state.payKey = null;  // answered: nothing was recorded
    out.textContent = err.offline ? t("pos.payunknown")
      : t("pos.payfail", { why: (err.data && err.data.error) || err.message });
    $("settle").disabled = false;
  }
});

function receipt(o) {
  const rows = [`${t("receipt.title")} #${o.number}  ${o.created_at.slice(0, 16).replace("T", " ")}`];
  for (const l of o.lines) rows.push(`${l.name} x${l.qty}  ${yuan(l.total_cents)}` + (l.note ? `  (${l.note})` : ""));
  if (o.discount_cents) rows.push(t("pos.discount", { d: yuan(o.discount_cents) }) + ` ${(o.coupons || []).join(",")}`);
  rows.push(`${t("receipt.total")} ${yuan(o.total_cents)}`);
  const label = { cash: "tender.cash", card: "tender.card_amount", stored_value: "tender.value", points: "pos.points" };
  for (const tender of (o.payment ? o.payment.tenders : [])) {
    rows.push(`${t(label[tender.kind])} ${yuan(tender.amount_cents)}` + (tender.points ? ` (${tender.points})` : "")
              + (tender.ref ? `  ${t("tender.card")} ${tender.ref}` : ""));
  }
  if (o.payment) rows.push(`${t("pos.change")} ${yuan(o.payment.change_cents)}`);
  if (o.points_earned) rows.push(`+${o.points_earned} ${t("pos.points")}`);
  return rows.join("\n");
}

$("print").addEventListener("click", () => { if (state.order) $("receipt").textContent = receipt(state.order); window.print(); });
$("next").addEventListener("click", () => {
  state.order = null; $("pay").hidden = true; $("cart").hidden = false; $("result").textContent = "";
  if (state.member) { state.member = null; state.coupons.clear(); renderMember(); $("member-query").value = ""; }
});

// -- order list -----------------------------------------------------------------------
async function loadOrders() {
  try { state.orders = await api("GET", "/orders?limit=20&money=1"); } catch (err) { return; }
  renderOrders(state.orders);
}

function renderOrders(orders) {
  const manager = SN.session.role === "manager";
  $("orders").replaceChildren(...orders.map((o) => el("li", { dataset: { id: o.id, number: String(o.number), status: o.status } },
    el("b", { textContent: "#" + o.number }), ` ${t("channel." + o.channel)} ${yuan(o.total_cents)} `,
    el("span", { class: "status s-" + o.status, textContent: t("status." + o.status) }),
    o.status === "ready" ? el("button", { type: "button", class: "complete", textContent: t("pos.complete"), onclick: () => move(o, "completed") }) : null,
    manager && OPEN.includes(o.status) ? el("button", {
      type: "button", class: "cancel", textContent: state.cancelArmed === o.id ? t("pos.cancel.confirm") : t("pos.cancel"),
      onclick: () => { if (state.cancelArmed === o.id) { state.cancelArmed = null; move(o, "cancelled"); } else { state.cancelArmed = o.id; renderOrders(orders); } },
    }) : null,
    o.refunded ? el("span", { class: "tag refunded", textContent: t("pos.refunded") }) : null,
    manager && o.paid && !o.refunded && REFUNDABLE.includes(o.status) ? el("button", {
      type: "button", class: "refund", textContent: state.refundArmed === o.id ? t("pos.refund.confirm") : t("pos.refund"),
      onclick: () => { if (state.refundArmed === o.id) { state.refundArmed = null; refund(o); } else { state.refundArmed = o.id; state.refundRestock = false; renderOrders(orders); } },
    }) : null,
    manager && state.refundArmed === o.id ? el("label", { class: "restock" },
      el("input", { type: "checkbox", class: "restock", checked: state.refundRestock,
        onchange: (ev) => { state.refundRestock = ev.target.checked; } }), " " + t("pos.refund.restock")) : null)));
}

// One Idempotency-Key per intended refund, kept until the server answered: a retry after no
// answer refunds once (the same key answers 200 with the same refund).
async function refund(order) {
  const restock = state.refundRestock; state.refundRestock = false;
  if (!state.refundKeys.has(order.id)) state.refundKeys.set(order.id, SN.newKey());
  const result = $("result");
  try {
    await api("POST", `/orders/${order.id}/refund`, { reason: t("pos.refund.reason"), restock },
              { "Idempotency-Key": state.refundKeys.get(order.id) });
    state.refundKeys.delete(order.id);
    result.className = "ok"; result.textContent = t("pos.refund.done", { n: order.number });
  } catch (err) {
    if (!err.offline) state.refundKeys.delete(order.id);  // answered: nothing more to retry
    result.className = "error";
    result.textContent = err.offline ? t("pos.refund.unknown")
      : t("pos.refund.fail", { why: (err.data && err.data.error) || err.message });
  }
  await loadOrders(); refreshStock();
}

// A transition is its own idempotency: repeating one the server already did is a 409 whose
// order is then in the target status, which we treat as done.
async function move(order, to) {
  try { await api("POST", `/orders/${order.id}/transitions`, { to }); }
  catch (err) {
    if (err.status !== 409) { $("result").className = "error"; $("result").textContent = t("pos.notsaved", { why: err.message }); }
  }
  await loadOrders(); refreshStock();
}

setInterval(() => { if (SN.session.token) loadOrders(); else api("GET", "/health").catch(() => {}); }, 5000);
setInterval(() => { if (SN.session.token && state.items) loadItems().catch(() => {}); }, 60000);  // price windows open and close
