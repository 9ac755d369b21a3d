"use strict";
// Live orders for the kitchen display and the pickup board: the /api/v1/events WebSocket,
// merged with a snapshot of open orders taken after the socket is open. After a blip it
// reconnects with ?after=<last seq seen>, so nothing committed in between is missed.
// Statuses only move forward, so of two views of an order the further one wins.
const RANK = { placed: 0, accepted: 1, preparing: 2, ready: 3, completed: 4, cancelled: 4 };

function liveOrders({ statuses, onChange, onState, onEvent = () => {}, onSnapshot = async () => {} }) {
  const orders = new Map();
  let lastSeq = null, delay = 250, socket = null, stopped = false, timer = null;

  function merge(order) {
    const known = orders.get(order.id);
    if (known && RANK[known.status] > RANK[order.status]) return false;
    orders.set(order.id, order);
    return true;
  }

  async function snapshot() {
    const lists = await Promise.all(statuses.map((s) => SN.api("GET", `/orders?status=${s}&limit=500`)));
    for (const list of lists) for (const order of list) merge(order);
    await onSnapshot();
    onChange(orders);
  }

  function open() {
    if (stopped || !SN.session.token) return;
    const resume = lastSeq !== null;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/api/v1/events?token=${encodeURIComponent(SN.session.token)}` +
      (resume ? `&after=${lastSeq}` : "");
    const ws = (socket = new WebSocket(url));
    ws.onopen = () => {
      delay = 250; onState(true);
      if (!resume) snapshot().catch(() => ws.close());  // no seq yet: take the open orders now
    };
    ws.onmessage = (msg) => {
      const event = JSON.parse(msg.data);
      if (typeof event.seq === "number") lastSeq = event.seq;
      if (event.type && event.type.startsWith("order.") && event.data && event.data.order) {
        if (merge(event.data.order)) onChange(orders, event.data.order);
      } else if (event.type && onEvent(event)) {
        onChange(orders);
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null; onState(false);
      if (stopped) return;
      timer = setTimeout(() => {
        // an expired token shows as a failed socket: check it before looping
        SN.api("GET", "/orders?limit=1").catch(() => {});
        open();
      }, delay);
      delay = Math.min(delay * 2, 4000);
    };
  }

  return {
    start() { stopped = false; if (!socket) open(); },
    stop() { stopped = true; clearTimeout(timer); if (socket) { const ws = socket; socket = null; ws.close(); } orders.clear(); lastSeq = null; },
    orders,
  };
}
