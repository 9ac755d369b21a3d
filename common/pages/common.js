"use strict";
// Shared by every page: the API client (bearer token; a plain "server unreachable" state
// that never pretends a write was saved), the message tables (Chinese by default, English
// on a switch kept in localStorage), and small DOM helpers.
const SN = (() => {
  const $ = (id) => document.getElementById(id);
  const tables = [];
  let lang = localStorage.getItem("lang") === "en" ? "en" : "zh";
  const listeners = [];
  const page = document.body.dataset.page || "page";
  const TIMEOUT_MS = 8000;

  function t(key, vars) {
    let text = key;
    for (const table of tables) if (table[key]) { text = table[key][lang === "en" ? 1 : 0]; break; }
    for (const [k, v] of Object.entries(vars || {})) text = text.replaceAll("{" + k + "}", v);
    return text;
  }

  function translate(root = document) {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  }

  // a page's message table; a page may bring several (pos.js and tables.js): the language
  // switch is wired once, or two clicks' worth would run per click
  let wired = false;
  function messages(table) {
    if (!tables.includes(COMMON)) tables.push(COMMON);
    tables.push(table);
    const button = $("lang");
    if (button && !wired) button.addEventListener("click", () => setLang(lang === "en" ? "zh" : "en"));
    wired = wired || Boolean(button);
    translate();
  }

  function setLang(next) {
    lang = next; localStorage.setItem("lang", next); translate();
    for (const fn of listeners) fn(next);
  }

  const COMMON = {
    "lang.switch": ["English", "中文"],
    "box.replaced": ["此设备已被更换：请使用新设备（本机不再接单）", "This box was replaced: use the new one (it takes no new orders)"],
    "net.down": ["无法连接本店服务器 — 操作未保存", "Store server unreachable — nothing saved"],
    "net.live": ["实时", "live"],
    "net.reconnecting": ["重新连接中…", "reconnecting…"],
    "login.title": ["员工登录", "Staff login"],
    "login.staff": ["工号", "Staff ID"],
    "login.pin": ["PIN 码", "PIN"],
    "login.submit": ["登录", "Log in"],
    "login.wrong": ["工号或 PIN 错误", "Wrong staff ID or PIN"],
    "login.locked": ["尝试次数过多，请稍后再试", "Too many attempts, try again later"],
    "logout": ["退出", "Log out"],
    "status.placed": ["已下单", "placed"],
    "status.accepted": ["已接单", "accepted"],
    "status.preparing": ["制作中", "preparing"],
    "status.ready": ["待取餐", "ready"],
    "status.completed": ["已完成", "completed"],
    "status.cancelled": ["已取消", "cancelled"],
  };
  // channel names come from /static/vocabulary.js (common/vocabulary.py), loaded before this file
  for (const [name, channel] of Object.entries(VOCABULARY.channels)) {
    COMMON["channel." + name] = [channel.zh, channel.en];
  }

  function tokenKey() { return "token:" + page; }
  const session = {
    get token() { return sessionStorage.getItem(tokenKey()); },
    get role() { return sessionStorage.getItem(tokenKey() + ":role"); },
    get staff() { return sessionStorage.getItem(tokenKey() + ":staff"); },
    save(token, role, staff) {
      sessionStorage.setItem(tokenKey(), token);
      sessionStorage.setItem(tokenKey() + ":role", role || "");
      sessionStorage.setItem(tokenKey() + ":staff", staff || "");
    },
    clear() { for (const s of ["", ":role", ":staff"]) sessionStorage.removeItem(tokenKey() + s); },
  };

  let onUnauthorized = () => {};

  // Resolves with the JSON body of a 2xx answer; rejects with err.status/err.data for an
  // error answer, or err.offline = true when the request got no answer at all (the server
  // may or may not have done it: the caller keeps its Idempotency-Key to retry safely).
  async function api(method, path, body, headers = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch("/api/v1" + path, {
        method, signal: ctl.signal, cache: "no-store",
        headers: { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers,
          ...(session.token ? { Authorization: "Bearer " + session.token } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      setNet(false);
      throw Object.assign(new Error(t("net.down")), { offline: true });
    } finally {
      clearTimeout(timer);
    }
    setNet(true);
    const data = await resp.json().catch(() => ({}));
    if (data.error === "box_superseded" || (data.box && data.box.superseded_at)) showReplaced();
    if (resp.status === 401 && !path.startsWith("/auth/")) onUnauthorized();
    if (!resp.ok) {
      throw Object.assign(new Error(data.error || String(resp.status)), { status: resp.status, data });
    }
    return data;
  }

  // HQ replaced this box (a new one serves the store): say so on every page, for good
  function showReplaced() {
    if ($("replaced")) return;
    const banner = document.createElement("div");
    banner.id = "replaced"; banner.setAttribute("role", "alert"); banner.dataset.i18n = "box.replaced";
    banner.style.cssText = "position:sticky;top:0;z-index:99;padding:1em;background:#b00020;color:#fff;font-size:1.3em;text-align:center";
    banner.textContent = t("box.replaced");
    document.body.prepend(banner);
  }

  function setNet(up) {
    const el = $("net");
    if (!el) return;
    el.textContent = up ? "" : t("net.down");
    el.className = up ? "net" : "net down";
    el.dataset.up = up ? "1" : "0";
  }

  const LOGIN_FIELDS = {
    pin: [["staff", "login.staff", { autocomplete: "username" }],
          ["pin", "login.pin", { type: "password", inputMode: "numeric", pattern: "[0-9]{4,12}" }]],
    password: [["user", "hq.user", { autocomplete: "username" }],
               ["password", "hq.password", { type: "password", autocomplete: "current-password" }]],
  };

  // The login form (staff + PIN, or HQ user + password) -> token; ready() once logged in.
  function loginForm(login, ready, kind = "pin") {
    $("login").replaceChildren(el("h2", { dataset: { i18n: kind === "pin" ? "login.title" : "hq.login" } }),
      el("form", { id: "login-form" },
        ...LOGIN_FIELDS[kind].map(([name, label, props]) => el("label", {},
          el("span", { dataset: { i18n: label } }), " ", el("input", { name, required: true, ...props }))),
        el("button", { type: "submit", dataset: { i18n: "login.submit" } }),
        el("p", { id: "login-error", class: "error", role: "alert" })));
    translate($("login"));
    const form = $("login-form");
    onUnauthorized = () => { session.clear(); show(false); };
    function show(loggedIn) {
      $("login").hidden = loggedIn; $("app").hidden = !loggedIn;
      const who = $("who");
      if (who) who.textContent = loggedIn ? `${session.staff} (${session.role})` : "";
      const out = $("logout");
      if (out) out.hidden = !loggedIn;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const fields = Object.fromEntries(new FormData(form));
      try {
        const res = await login(fields);
        session.save(res.token, res.role, res.staff || fields.staff || fields.user);
        $("login-error").textContent = ""; form.reset(); show(true); await ready();
      } catch (err) {
        $("login-error").textContent = err.offline ? t("net.down") : err.status === 429
          ? t("login.locked") : err.status === 401 ? t("login.wrong") : err.message;
      }
    });
    const out = $("logout");
    if (out) out.addEventListener("click", () => { session.clear(); show(false); });
    if (session.token) { show(true); ready().catch(() => { session.clear(); show(false); }); }
    else show(false);
  }

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else node[k] = v;
    }
    node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  const yuan = (fen) => "¥" + (fen / 100).toFixed(2);
  const onLang = (fn) => listeners.push(fn);
  return { $, t, api, messages, translate, loginForm, session, newKey, el, yuan, onLang, setNet,
           get lang() { return lang; } };
})();
