// The auction room: a websocket to /ws/lots/{id} gives a snapshot, then events in sequence.
// A gap in the sequence, or a reconnect, asks for a fresh snapshot. The countdown runs on
// server time (offset measured from each snapshot). Bids go over the socket when it is open,
// otherwise over HTTP with an Idempotency-Key; a retried bid reuses its key. A typed amount,
// a bid of several increments and a proxy maximum are reviewed before they are sent (a confirmed
// bid is binding), with a strong warning far above the current price; one increment is one click.
(function () {
  "use strict";
  const root = document.getElementById("room");
  if (!root) return;
  const lot = Number(root.dataset.lot);
  const lang = root.dataset.lang === "en" ? "en" : "zh";
  const text = JSON.parse(document.getElementById("room-text").textContent);
  let room = JSON.parse(document.getElementById("room-data").textContent);
  let offset = Date.parse(room.server_now) - Date.now();
  let socket = null;
  let backoff = 500;
  let lastSeq = room.seq;
  let inTheRace = false; // this bidder has led or bid here: so being behind means outbid
  let standingWas = null; // "lead", "outbid", "won", "lost" or "" at the last render
  let messageFits = null; // the standings the bid message agrees with (null: any)
  const pending = new Map(); // ref -> {kind, amount, key}
  let refs = 0;
  const baseTitle = document.title;

  const $ = (id) => document.getElementById(id);
  const t = (key, values) => {
    let s = text[key] || key;
    for (const [k, v] of Object.entries(values || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  };
  const symbols = { CNY: "¥", USD: "US$", EUR: "€", HKD: "HK$" };
  const money = (minor) => {
    const sign = symbols[room.currency] || room.currency + " ";
    const whole = Math.floor(minor / 100).toLocaleString("en-US");
    return sign + whole + "." + String(minor % 100).padStart(2, "0");
  };
  const parseMoney = (raw) => {
    const full = "０１２３４５６７８９．，";
    const ascii = "0123456789.,";
    let s = "";
    for (const ch of raw.trim()) { const i = full.indexOf(ch); s += i >= 0 ? ascii[i] : ch; }
    s = s.replace(/[,\s]/g, "");
    const m = /^(\d{1,14})(?:\.(\d{1,2}))?$/.exec(s);
    if (!m) return null;
    return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
  };
  const timeOf = (iso) => new Date(iso).toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN",
    { timeZone: "Asia/Shanghai", hour12: false });
  const newKey = () => (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : String(Date.now()) + "-" + Math.random().toString(16).slice(2);

  // --- rendering ---------------------------------------------------------------------

  function render() {
    $("price").textContent = money(room.price || room.terms.start_price);
    $("leader-line").textContent = room.leader ? t("auction.leader", { code: room.leader })
      : t("auction.no_bids", { price: money(room.terms.start_price) });
    const phase = $("phase");
    phase.textContent = t("auction.phase." + room.phase);
    phase.className = "badge " + (room.phase === "free" || room.phase === "timed" ? "live" : "");
    phase.dataset.phase = room.phase;
    if ($("step")) $("step").textContent = money(stepNow());
    if ($("bidder-count")) $("bidder-count").textContent = room.bidder_count;
    const standing = $("standing");
    const me = room.you;
    if (me && (room.leader === me.code || room.ladder.some((b) => b.code === me.code))) inTheRace = true;
    let now = "";
    if (me && room.phase === "closed" && room.result) {
      const won = room.result.sold && room.result.winner === me.code;
      now = won ? "won" : (inTheRace ? "lost" : "");
      if (won && $("next-step-live")) $("next-step-live").hidden = false; // closed live: the trade follows
      standing.textContent = won ? t("auction.you_won") : (inTheRace ? t("auction.you_lost") : "");
      standing.className = "standing " + (won ? "lead" : "outbid");
    } else if (me && room.leader) {
      const leading = room.leader === me.code;
      const byProxy = !leading && room.ladder.length > 0 && room.ladder[0].proxy;
      now = leading ? "lead" : (inTheRace ? "outbid" : "");
      standing.textContent = leading ? t("auction.you_lead")
        : (inTheRace ? t(byProxy ? "auction.outbid_proxy" : "auction.outbid") : "");
      standing.className = "standing " + (leading ? "lead" : "outbid");
    } else {
      standing.textContent = "";
    }
    // a new standing clears what the message box said that no longer holds
    if (now !== standingWas) {
      if (messageFits !== null && !messageFits.includes(now)) say("", "");
      standingWas = now;
    }
    const closeAt = $("close-at");
    if (room.phase === "timed" && room.close_at) closeAt.textContent = t("auction.timed_close_at", { at: timeOf(room.close_at) });
    else if (room.phase === "closed" && room.close_at) closeAt.textContent = t("auction.closed_at", { at: timeOf(room.close_at) });
    if ($("your-max")) {
      const max = me && room.leader === me.code ? me.your_maximum : null;
      $("your-max").textContent = max ? t("auction.your_max", { amount: money(max) }) : "";
    }
    if ($("bid-one-amount")) $("bid-one-amount").textContent = money(room.minimum_bid);
    const open = room.phase === "free" || room.phase === "timed";
    if ($("bid-panel")) $("bid-panel").hidden = room.phase === "closed";
    document.querySelectorAll("#bid-panel button, #bid-panel input").forEach((el) => { el.disabled = !open; });
    const result = $("result");
    if (room.phase === "closed" && room.result) {
      result.hidden = false;
      result.textContent = room.result.sold
        ? t("auction.sold", { code: room.result.winner, price: money(room.result.price) })
        : t("auction.unsold");
      result.className = "result " + (room.result.sold ? "sold" : "unsold");
    }
    if (reviewing && !open) closeReview(false);
    else if (reviewing) { showReview(); $("bid-one").disabled = true; }
    renderLadder();
    tick();
  }

  function renderLadder() {
    const body = document.querySelector("#ladder tbody");
    const rows = room.ladder.map((b) =>
      "<tr><td>" + escapeHtml(b.code) + (b.proxy ? ' <span class="muted">' + escapeHtml(t("auction.auto")) + "</span>" : "") +
      "</td><td>" + money(b.amount) + "</td><td>" + timeOf(b.at) + "</td></tr>");
    body.innerHTML = rows.join("");
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function tick() {
    const now = Date.now() + offset;
    if (room.phase === "free" && now >= Date.parse(room.scheduled_end)) {
      room.phase = "timed"; // free bidding is over: the timed rounds run until a quiet period passes
      render();
      return;
    }
    let target = null;
    let label = "auction.closes_in";
    if (room.phase === "scheduled") { target = Date.parse(room.opens_at); label = "auction.opens_in"; }
    else if (room.phase === "free") { target = Date.parse(room.scheduled_end); label = "auction.free_ends_in"; }
    else if (room.phase === "timed") { target = Date.parse(room.close_at); label = "auction.timed_left"; }
    const box = $("countdown");
    if (target === null) {
      box.textContent = room.close_at ? timeOf(room.close_at) : "";
      box.classList.remove("urgent");
      $("countdown-label").textContent = t("auction.phase.closed");
      document.title = t("auction.phase.closed") + " · " + baseTitle;
      return;
    }
    const left = Math.max(0, Math.ceil((target - now) / 1000));
    const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    const shown = (h ? h + ":" + String(m).padStart(2, "0") : String(m).padStart(2, "0")) + ":" + String(s).padStart(2, "0");
    box.textContent = shown;
    box.classList.toggle("urgent", room.phase === "timed" || left <= 60);
    $("countdown-label").textContent = t(label);
    document.title = "⏱ " + shown + " · " + money(room.price || room.terms.start_price) + " · " + baseTitle;
  }
  setInterval(tick, 250);

  // --- feed --------------------------------------------------------------------------

  function apply(ev) {
    if (ev.seq <= lastSeq) return true; // already seen
    if (ev.seq !== lastSeq + 1) return false; // a gap: resynchronise
    lastSeq = ev.seq;
    room.seq = ev.seq;
    const before = room.price || 0;
    for (const k of ["price", "leader", "minimum_bid", "close_at", "phase", "result"]) {
      if (k in ev && ev[k] !== undefined) room[k] = ev[k];
    }
    if (ev.type === "admitted") room.bidder_count += 1;
    if (ev.type === "closed") room.status = "closed";
    if (ev.type === "opened") room.status = "open";
    if (ev.type === "bid" && ev.bid) {
      if (ev.price > before) {
        // as the server's ladder: the leader at the new price and, when an earlier maximum held
        // against this bid at its amount, the bid itself just below
        const beaten = ev.bid.beaten;
        if (beaten) room.ladder.unshift({ code: ev.bid.code, amount: beaten.amount, proxy: beaten.proxy, at: ev.at });
        room.ladder.unshift({ code: ev.leader, amount: ev.price, proxy: ev.bid.proxy, at: ev.at });
        if (room.ladder.length > 50) room.ladder.length = 50;
      }
      if (room.you && ev.bid.code === room.you.code) inTheRace = true;
    }
    return true;
  }

  function onMessage(msg) {
    if (msg.type === "snapshot") {
      $("conn-state").hidden = true;
      root.classList.remove("offline");
      room = msg.room;
      lastSeq = room.seq;
      offset = Date.parse(room.server_now) - Date.now();
      render();
    } else if (msg.type === "events") {
      for (const ev of msg.events) {
        if (!apply(ev)) { send({ type: "resync" }); return; }
      }
      render();
    } else if (msg.type === "ack") {
      const p = pending.get(msg.ref);
      pending.delete(msg.ref);
      showAck(msg.ack, p);
    } else if (msg.type === "error") {
      if (msg.ref !== undefined && msg.ref !== null) pending.delete(msg.ref);
      say(msg.detail || "error", "bad");
    }
  }

  function send(obj) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(obj)); return true; }
    return false;
  }

  // A connection can die without a close (a laptop lid, a lost network): the page pings
  // every few seconds and, hearing nothing for a while, treats the socket as dropped.
  const PING_EVERY_MS = 5000;
  const SILENCE_MS = 15000;
  let heardAt = Date.now();
  setInterval(() => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - heardAt > SILENCE_MS) { dropped(socket); return; }
    send({ type: "ping" });
  }, PING_EVERY_MS);

  function dropped(old) {
    old.onclose = old.onmessage = null;
    try { old.close(); } catch (err) { /* already closing */ }
    if (socket === old) socket = null;
    $("conn-state").hidden = false;
    root.classList.add("offline");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 8000);
  }

  function connect() {
    socket = new WebSocket(root.dataset.feed + "/ws/lots/" + lot);
    heardAt = Date.now();
    socket.onopen = () => {
      backoff = 500;
      // bids sent but not answered before the drop are resent with the same key: never twice
      for (const [ref, p] of pending) send({ type: "bid", ref: ref, kind: p.kind, amount: p.amount, key: p.key });
    };
    socket.onmessage = (e) => {
      heardAt = Date.now();
      try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); }
    };
    const mine = socket;
    socket.onclose = (e) => {
      if (e.code === 4404) { socket = null; return; }
      dropped(mine);
    };
  }

  // --- bidding -----------------------------------------------------------------------

  // `fits`: the standings the message agrees with; another standing clears it (null: none does)
  function say(message, kind, fits) {
    const box = $("bid-message");
    if (!box) return;
    box.textContent = message;
    box.className = "bid-message " + (kind || "");
    messageFits = message && fits !== undefined ? fits : null;
  }

  function showAck(ack, p) {
    if (ack.status === "accepted" && ack.you_lead === false) {
      // taken, and at once overtaken: an earlier maximum holds at this amount
      say(t("auction.accepted_held", { amount: money(p ? p.amount : ack.amount) }), "bad", ["outbid"]);
    } else if (ack.status === "accepted") {
      say(p && p.kind === "proxy" ? t("auction.proxy_set", { amount: money(p.amount) })
        : t("auction.accepted", { amount: money(p ? p.amount : room.price) }), "ok", ["lead", "won"]);
      if (p && p.kind === "proxy") send({ type: "resync" }); // the snapshot carries your maximum
      else if (room.you) { room.you.your_maximum = null; render(); } // a straight bid leaves no maximum
    } else {
      say(t("auction.rejected", { reason: ack.reason || ack.code }), "bad", []);
    }
  }

  async function bid(kind, amount) {
    const ref = "r" + (++refs);
    const p = { kind: kind, amount: amount, key: newKey() };
    say(t("auction.sending"), "");
    pending.set(ref, p);
    if (send({ type: "bid", ref: ref, kind: kind, amount: amount, key: p.key })) return;
    // no socket right now: HTTP carries the same bid with the same key
    try {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const res = await fetch("/api/lots/" + lot + "/bids", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Idempotency-Key": p.key, "X-CSRF-Token": csrf },
        body: JSON.stringify({ kind: kind, amount: amount }),
      });
      const body = await res.json();
      pending.delete(ref);
      if (res.status === 201) showAck(body, p);
      else if (body.ack) showAck(body.ack, p);
      else say(body.detail || res.statusText, "bad");
    } catch (err) {
      say(t("auction.reconnecting"), "bad"); // stays pending; resent with its key on reconnect
    }
  }

  function stepNow() { return room.price ? room.minimum_bid - room.price : room.step; }
  const stepsAbove = (n) => room.price ? room.price + n * stepNow() : room.minimum_bid + (n - 1) * stepNow();

  // --- reviewing a bid before it is sent ------------------------------------------------

  // Far above the current price: more than WARN_STEPS increments or WARN_SHARE of the price.
  const WARN_STEPS = 3;
  const WARN_SHARE = 0.10;
  let reviewing = null; // {kind, amount, field}

  function showReview() {
    const base = room.price || room.terms.start_price;
    const diff = reviewing.amount - base;
    const steps = Math.round((diff / stepNow()) * 10) / 10;
    const percent = (Math.round((diff / base) * 1000) / 10).toLocaleString(lang === "en" ? "en-GB" : "zh-CN") + "%";
    const proxy = reviewing.kind === "proxy";
    $("review-title").textContent = t(proxy ? "auction.review_proxy_title" : "auction.review_title");
    $("review-amount").textContent = money(reviewing.amount);
    $("review-above").textContent = diff > 0
      ? t("auction.review_above", { diff: money(diff), price: money(base), steps: steps, percent: percent })
      : t("auction.review_at", { price: money(base) });
    const far = diff > WARN_STEPS * stepNow() || diff > WARN_SHARE * base;
    const warning = $("review-warning");
    warning.hidden = !far;
    warning.textContent = far ? t("auction.review_warning", { percent: percent, steps: steps }) : "";
    $("bid-review").classList.toggle("far", far);
    $("review-confirm").textContent = t(proxy ? "auction.review_confirm_proxy" : "auction.review_confirm",
      { amount: money(reviewing.amount) });
  }

  function review(kind, amount, field) {
    reviewing = { kind: kind, amount: amount, field: field };
    say("", "");
    showReview();
    $("bid-review").hidden = false;
    document.querySelectorAll("#bid-panel form").forEach((f) => { f.hidden = true; });
    $("bid-one").disabled = true;
    $("review-confirm").focus();
  }

  function closeReview(refocus) {
    const field = reviewing && reviewing.field;
    reviewing = null;
    $("bid-review").hidden = true;
    document.querySelectorAll("#bid-panel form").forEach((f) => { f.hidden = false; });
    $("bid-one").disabled = !(room.phase === "free" || room.phase === "timed");
    if (refocus && field) $(field).focus();
  }

  // A typed amount below the minimum is sent at once: the exchange refuses it with its reason.
  function reviewOrSend(kind, amount, field) {
    if (kind === "bid" && amount < room.minimum_bid) bid(kind, amount);
    else review(kind, amount, field);
  }

  if ($("bid-one")) {
    $("bid-one").addEventListener("click", () => bid("bid", room.minimum_bid));
    $("bid-n").addEventListener("submit", (e) => {
      e.preventDefault();
      const n = Number($("n-steps").value);
      if (!Number.isInteger(n) || n < 1 || n > 1000) { say(t("auction.bad_amount"), "bad"); return; }
      if (n === 1) bid("bid", stepsAbove(1));
      else reviewOrSend("bid", stepsAbove(n), "n-steps");
    });
    $("bid-amount").addEventListener("submit", (e) => {
      e.preventDefault();
      const amount = parseMoney($("amount").value);
      if (amount === null || amount <= 0) { say(t("auction.bad_amount"), "bad"); return; }
      reviewOrSend("bid", amount, "amount");
    });
    $("bid-proxy").addEventListener("submit", (e) => {
      e.preventDefault();
      const amount = parseMoney($("proxy-max").value);
      if (amount === null || amount <= 0) { say(t("auction.bad_amount"), "bad"); return; }
      reviewOrSend("proxy", amount, "proxy-max");
    });
    $("review-confirm").addEventListener("click", () => {
      const chosen = reviewing;
      if (!chosen) return;
      closeReview(false);
      bid(chosen.kind, chosen.amount);
    });
    $("review-change").addEventListener("click", () => closeReview(true));
    $("bid-review").addEventListener("keydown", (e) => { if (e.key === "Escape") closeReview(true); });
  }

  render();
  connect();
})();
