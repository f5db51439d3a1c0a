/// The dashboard at `GET /`: one self-contained page (no scripts, fonts or styles from anywhere
/// else: a gateway may have no internet when it is needed most). It listens to `/api/v1/live`
/// (server-sent events) and redraws on every message, so a WAN going down shows within a second.
/// The layout is one column of cards on a phone, a grid on a wider screen.
enum DashboardPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Braid</title>
        <style>
          :root { --bg:#f4f5f7; --card:#fff; --ink:#1d2330; --muted:#5d6675; --line:#e2e5ea;
                  --up:#1f9d55; --down:#d64545; --warn:#d98a00; --drained:#6b5bd6; --idle:#7a8494; }
          * { box-sizing: border-box; }
          body { margin:0; font:15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
          header { display:flex; flex-wrap:wrap; align-items:baseline; gap:.2rem 1rem; padding:.8rem 1rem; background:#1d2330; color:#fff; }
          header h1 { margin:0; font-size:1.2rem; letter-spacing:.04em; }
          header .meta { color:#b9c0cc; font-size:.85rem; }
          #link { margin-left:auto; font-size:.85rem; }
          #link.live::before { content:"●"; color:#4ade80; margin-right:.3rem; }
          #link.lost::before { content:"●"; color:#f87171; margin-right:.3rem; }
          main { padding:1rem; max-width:1200px; margin:0 auto; }
          #wans { display:grid; grid-template-columns:repeat(auto-fill, minmax(280px, 1fr)); gap:1rem; }
          .card { background:var(--card); border-radius:10px; border:1px solid var(--line); border-left:8px solid var(--idle); padding:.8rem 1rem; }
          .card.s-up { border-left-color:var(--up); } .card.s-down, .card.s-no_link, .card.s-no_address, .card.s-unusable, .card.s-no_gateway { border-left-color:var(--down); }
          .card.s-held, .card.s-probing, .card.s-degraded { border-left-color:var(--warn); } .card.s-drained { border-left-color:var(--drained); }
          .top { display:flex; justify-content:space-between; align-items:center; gap:.5rem; }
          .name { font-weight:700; font-size:1.1rem; }
          .state { font-weight:700; padding:.1rem .55rem; border-radius:999px; color:#fff; background:var(--idle); text-transform:uppercase; font-size:.8rem; letter-spacing:.05em; }
          .s-up .state { background:var(--up); } .s-down .state, .s-no_link .state, .s-no_address .state, .s-unusable .state, .s-no_gateway .state { background:var(--down); }
          .s-held .state, .s-probing .state, .s-degraded .state { background:var(--warn); } .s-drained .state { background:var(--drained); }
          .reason { color:var(--muted); font-size:.85rem; margin:.3rem 0 .5rem; overflow-wrap:anywhere; }
          .facts { display:grid; grid-template-columns:repeat(3, 1fr); gap:.3rem .6rem; margin:.4rem 0; }
          .facts div span { display:block; color:var(--muted); font-size:.72rem; text-transform:uppercase; letter-spacing:.04em; }
          .facts div b { font-variant-numeric:tabular-nums; }
          .target { display:grid; grid-template-columns:1fr auto; gap:.1rem .5rem; border-top:1px solid var(--line); padding-top:.35rem; margin-top:.35rem; font-size:.85rem; }
          .target .addr { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
          .target .nums { font-variant-numeric:tabular-nums; color:var(--muted); text-align:right; }
          .target svg { grid-column:1 / -1; width:100%; height:28px; display:block; background:#f8f9fb; border-radius:4px; }
          h2 { font-size:1rem; margin:1.4rem 0 .5rem; }
          #events { background:var(--card); border:1px solid var(--line); border-radius:10px; list-style:none; margin:0; padding:0; }
          #events li { padding:.45rem .8rem; border-top:1px solid var(--line); font-size:.85rem; display:flex; gap:.6rem; flex-wrap:wrap; }
          #events li:first-child { border-top:0; }
          #events time { color:var(--muted); font-variant-numeric:tabular-nums; }
          #events .kind { font-weight:700; }
          @media (max-width: 520px) { main { padding:.6rem; } .facts { grid-template-columns:repeat(2, 1fr); } }
        </style>
        </head>
        <body>
        <header><h1>BRAID</h1><span class="meta" id="meta">connecting…</span><span id="link" class="lost">offline</span></header>
        <main>
          <section id="wans" aria-live="polite"></section>
          <h2>Events</h2>
          <ul id="events"><li>No events yet.</li></ul>
        </main>
        <script>
        "use strict";
        const previous = {};
        function text(value) { return String(value ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c])); }
        function bytes(value) {
          if (value == null) return "–";
          const units = ["B/s","kB/s","MB/s","GB/s"]; let v = value, i = 0;
          while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
          return (v >= 100 || i == 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
        }
        function since(iso) {
          const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
          if (seconds < 90) return Math.round(seconds) + " s ago";
          if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
          if (seconds < 129600) return Math.round(seconds / 3600) + " h ago";
          return Math.round(seconds / 86400) + " d ago";
        }
        function sparkline(history) {
          const points = history.slice(-120); const width = 120, height = 26;
          const values = points.filter(v => v != null); const max = Math.max(1, ...values);
          let path = "", lost = "";
          points.forEach((v, i) => {
            const x = (points.length < 2 ? width : i * width / (points.length - 1)).toFixed(1);
            if (v == null) { lost += `<line x1="${x}" y1="0" x2="${x}" y2="${height}" stroke="#d64545" stroke-opacity="0.45" stroke-width="1"/>`; return; }
            path += `${path ? "L" : "M"}${x},${(height - 2 - v / max * (height - 4)).toFixed(1)}`;
          });
          return `<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" aria-label="RTT history">${lost}<path d="${path}" fill="none" stroke="#3b6fd6" stroke-width="1.5"/></svg>`;
        }
        function render(view) {
          document.getElementById("meta").textContent = `daemon pid ${view.pid} · ${new Date(view.time).toLocaleTimeString()}`;
          const now = Date.parse(view.time);
          document.getElementById("wans").innerHTML = view.wans.map(wan => {
            const before = previous[wan.name]; let rx = null, tx = null;
            if (before && wan.rx_bytes != null && now > before.time) {
              const seconds = (now - before.time) / 1000;
              rx = Math.max(0, (wan.rx_bytes - before.rx) / seconds); tx = Math.max(0, (wan.tx_bytes - before.tx) / seconds);
            } else if (before) { rx = before.rxRate; tx = before.txRate; }
            if (!before || now - before.time >= 900) previous[wan.name] = { time: now, rx: wan.rx_bytes, tx: wan.tx_bytes, rxRate: rx, txRate: tx };
            const targets = wan.targets.map(t => `<div class="target"><span class="addr">${text(t.address)}</span>
                <span class="nums">RTT ${t.rtt_milliseconds == null ? "–" : t.rtt_milliseconds.toFixed(1) + " ms"} · loss ${Math.round(t.loss * 100)}%</span>${sparkline(t.history)}</div>`).join("");
            return `<article class="card s-${text(wan.state)}" data-wan="${text(wan.name)}" data-state="${text(wan.state)}">
              <div class="top"><span class="name">${text(wan.name)}</span><span class="state">${text(wan.state.replace("_", " "))}</span></div>
              <div class="reason">${text(wan.reason)} · since ${since(wan.since)}</div>
              <div class="facts">
                <div><span>Share</span><b>${Math.round(wan.share * 100)}%</b></div>
                <div><span>Conns</span><b>${wan.connections ?? "–"}</b></div>
                <div><span>Weight</span><b>${wan.weight}</b></div>
                <div><span>RX</span><b>${bytes(rx)}</b></div>
                <div><span>TX</span><b>${bytes(tx)}</b></div>
                <div><span>Link</span><b>${text(wan.interface)}</b></div>
              </div>${targets}</article>`;
          }).join("");
          const events = view.events.slice().reverse();
          document.getElementById("events").innerHTML = events.length == 0 ? "<li>No events yet.</li>" : events.map(e =>
            `<li><time>${new Date(e.time).toLocaleTimeString()}</time><span class="kind">${text(e.event)}</span>` +
            `<span>${text(e.wan ?? "")} ${e.from ? text(e.from) + " → " : ""}${text(e.to ?? "")}</span>` +
            `<span>${text(e.reason)}${e.detection_seconds != null ? " (detected in " + e.detection_seconds.toFixed(2) + " s)" : ""}</span></li>`).join("");
        }
        function connect() {
          const source = new EventSource("/api/v1/live");
          const link = document.getElementById("link");
          source.onopen = () => { link.className = "live"; link.textContent = "live"; };
          source.onmessage = message => render(JSON.parse(message.data));
          source.onerror = () => { link.className = "lost"; link.textContent = "reconnecting"; };
        }
        connect();
        </script>
        </body>
        </html>
        """#
}
