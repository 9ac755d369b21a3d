"use strict";
// POS till: every write carries an Idempotency-Key that is kept until the
// server has answered, so a double tap or a retry never makes two orders.
const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("token"), items: [], cart: new Map(), pendingKey: null };
const yuan = (fen) => "¥" + (fen / 100).toFixed(2);

async function api(method, path, body, headers = {}) {
  let resp;
  try {
    resp = await fetch("/api/v1" + path, {
      method, headers: { "Content-Type": "application/json", ...headers,
        ...(state.token ? { Authorization: "Bearer " + state.token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    setNet(false);
    throw new Error("无法连接本店服务器 / cannot reach the store server — NOT saved");
  }
  setNet(true);
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401 && path !== "/auth/login") logout();
  if (!resp.ok) throw Object.assign(new Error(data.error || resp.statusText), { status: resp.status, data });
  return data;
}

function setNet(up) {
  $("net").textContent = up ? "" : "离线 / server unreachable";
  $("net").className = up ? "net" : "net down";
}

function logout() {
  state.token = null; sessionStorage.removeItem("token");
  $("till").hidden = true; $("login").hidden = false;
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    const res = await api("POST", "/auth/login", { staff: form.get("staff"), pin: form.get("pin") });
    state.token = res.token; sessionStorage.setItem("token", res.token);
    $("login-error").textContent = ""; await start();
  } catch (err) {
    $("login-error").textContent = err.status === 429 ? "尝试过多，请稍后 / too many attempts" :
      err.status === 401 ? "工号或PIN错误 / wrong staff or PIN" : err.message;
  }
});

function price(item) {
  const ch = $("channel").value;
  return (item.channel_prices && item.channel_prices[ch]) ?? item.price_cents;
}

function renderMenu() {
  const box = $("items"); box.replaceChildren();
  let category = null;
  for (const item of state.items) {
    if (item.category !== category) {
      category = item.category;
      const h = document.createElement("h3"); h.textContent = category; box.append(h);
    }
    const b = document.createElement("button");
    b.className = "item"; b.disabled = !item.available; b.dataset.sku = item.sku;
    b.innerHTML = "<span></span><span class=price></span>";
    b.firstChild.textContent = item.name; b.lastChild.textContent = yuan(price(item));
    b.addEventListener("click", () => addToCart(item.sku));
    box.append(b);
  }
  renderCart();
}

function addToCart(sku) {
  const line = state.cart.get(sku) || { sku, qty: 0, note: "" };
  line.qty += 1; state.cart.set(sku, line); state.pendingKey = null; renderCart();
}

function renderCart() {
  const ul = $("lines"); ul.replaceChildren();
  let total = 0;
  for (const line of state.cart.values()) {
    const item = state.items.find((i) => i.sku === line.sku);
    total += price(item) * line.qty;
    const li = document.createElement("li");
    li.innerHTML = "<span></span><button>−</button><b></b><button>+</button><input class=note placeholder='备注 note'>";
    li.children[0].textContent = item.name; li.children[2].textContent = line.qty;
    li.children[1].onclick = () => { line.qty -= 1; if (!line.qty) state.cart.delete(line.sku); state.pendingKey = null; renderCart(); };
    li.children[3].onclick = () => addToCart(line.sku);
    li.children[4].value = line.note;
    li.children[4].oninput = (e) => { line.note = e.target.value; state.pendingKey = null; };
    ul.append(li);
  }
  $("total").textContent = yuan(total);
  $("place").disabled = state.cart.size === 0;
}

$("channel").addEventListener("change", () => { state.pendingKey = null; renderMenu(); });

$("place").addEventListener("click", async () => {
  const button = $("place"); button.disabled = true;
  state.pendingKey = state.pendingKey || crypto.randomUUID();
  const lines = [...state.cart.values()].map((l) => ({ sku: l.sku, qty: l.qty, ...(l.note ? { note: l.note } : {}) }));
  try {
    const order = await api("POST", "/orders", { channel: $("channel").value, lines },
                            { "Idempotency-Key": state.pendingKey });
    $("result").className = "ok";
    $("result").textContent = `#${order.number} ${yuan(order.total_cents)} 已下单 / placed`;
    state.cart.clear(); state.pendingKey = null; renderCart(); loadOrders();
  } catch (err) {
    $("result").className = "error";
    $("result").textContent = err.data && err.data.error === "out_of_stock"
      ? "库存不足 / out of stock: " + err.data.detail.map((d) => `${d.sku} (${d.available})`).join(", ")
      : "未保存 / NOT saved: " + err.message;
    button.disabled = false;
  }
});

async function loadOrders() {
  const orders = await api("GET", "/orders?limit=20");
  const ul = $("orders"); ul.replaceChildren();
  for (const o of orders) {
    const li = document.createElement("li");
    li.textContent = `#${o.number} ${o.channel} ${yuan(o.total_cents)} ${o.status}`;
    ul.append(li);
  }
}

async function start() {
  $("login").hidden = true; $("till").hidden = false;
  const health = await api("GET", "/health");
  $("store").textContent = health.store;
  state.items = await api("GET", "/catalog/items");
  renderMenu(); await loadOrders();
}

if (state.token) start().catch(logout);
setInterval(() => api("GET", "/health").catch(() => {}), 5000);
