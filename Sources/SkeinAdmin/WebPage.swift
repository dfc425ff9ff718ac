/// The web view served at `/`: one page, no external assets, that draws the deck's table of a
/// topic from `/v1/topics/{t}/layout` (the model `skein topic describe --layout` prints),
/// redraws it on every event of `/v1/events`, and lists the events, the partitions' offsets
/// and lag per replica, the brokers' load and health (as `skein cluster status`), the
/// consumer groups with their lag, and the placement explainer's "fail these brokers"
/// what-if. Above 200 partitions the table's chips shrink to coloured squares so that
/// 60 brokers × 1,000 partitions still fit a screen.
enum WebPage {
  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Skein</title>
    <style>
      :root { --leader:#1f6feb; --sync:#2da44e; --out:#d29922; --off:#cf222e; --ink:#1f2328;
              --mute:#656d76; --line:#d0d7de; }
      body { font: 14px/1.4 system-ui, sans-serif; color: var(--ink); margin: 0; }
      header { padding: 10px 16px; border-bottom: 1px solid var(--line); display: flex;
               gap: 16px; align-items: center; flex-wrap: wrap; }
      header h1 { font-size: 18px; margin: 0; }
      main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 1fr);
             gap: 16px; padding: 16px; }
      section h2 { font-size: 15px; margin: 0 0 8px; }
      table { border-collapse: collapse; width: 100%; }
      th, td { border: 1px solid var(--line); padding: 4px 6px; vertical-align: top;
               text-align: left; }
      th { background: #f6f8fa; position: sticky; top: 0; }
      td.broker { white-space: nowrap; font-weight: 600; }
      td.broker.absent { color: var(--off); }
      .chip { display: inline-block; margin: 1px; padding: 0 4px; border-radius: 3px;
              font: 12px/18px ui-monospace, monospace; color: #fff; }
      .chip.leader { background: var(--leader); }
      .chip.in-sync { background: var(--sync); }
      .chip.out-of-sync { background: var(--out); }
      .chip.offline { background: var(--off); }
      .chip.moved { outline: 2px dashed var(--ink); }
      .legend .chip { margin-right: 4px; }
      #events { max-height: 70vh; overflow: auto; font-size: 13px; }
      #events div { border-bottom: 1px solid var(--line); padding: 3px 0; }
      #events time { color: var(--mute); margin-right: 6px; }
      .brokers span { margin-right: 10px; }
      .fenced { color: var(--off); }
      .scroll { max-height: 75vh; overflow: auto; }
      .chip[data-lag]::after { content: " " attr(data-lag); opacity: .85; }
      table.compact td { padding: 2px 3px; }
      table.compact .chip { width: 9px; height: 9px; padding: 0; margin: 1px; font-size: 0;
                            line-height: 0; border-radius: 2px; vertical-align: middle; }
      table.compact .chip[data-lag]::after { content: none; }
      table.compact .chip.moved { outline-width: 1px; }
      .chip.hit { outline: 3px solid #8250df; }
      .num { text-align: right; font-variant-numeric: tabular-nums; }
      .panel { margin-top: 16px; }
      .whatif label { margin-right: 8px; white-space: nowrap; }
      .moves { font-size: 13px; margin: 6px 0; }
      .small { font-size: 12px; color: var(--mute); }
    </style>
    </head>
    <body>
    <header>
      <h1>Skein</h1>
      <span id="cluster"></span>
      <label>Topic <select id="topic"></select></label>
      <label>Find <input id="find" size="6" placeholder="P5"></label>
      <span class="legend">
        <span class="chip leader">leader</span><span class="chip in-sync">in-sync follower</span>
        <span class="chip out-of-sync">out of sync</span><span class="chip offline">offline</span>
        <span class="chip leader moved">moved leader</span>
      </span>
    </header>
    <main>
      <section>
        <h2 id="title">Replicas</h2>
        <div class="scroll"><table id="layout"></table></div>
        <div class="panel whatif">
          <h2>What if these brokers fail?</h2>
          <div id="fail-boxes"></div>
          <div class="moves" id="moves"></div>
          <div class="scroll"><table id="whatif"></table></div>
        </div>
        <div class="panel whatif">
          <h2>Placement explainer</h2>
          <form id="plan-form">
            <label>Brokers <input id="plan-brokers" size="40" placeholder="0:R1,1:R1,2:R2"></label>
            <label>Partitions <input id="plan-partitions" size="4" value="10"></label>
            <label>Replication factor <input id="plan-rf" size="2" value="3"></label>
            <label>Fail <input id="plan-fail" size="8" placeholder="0,3"></label>
            <button type="submit">Explain</button>
          </form>
          <div class="moves" id="plan-moves"></div>
          <div class="scroll"><table id="plan"></table></div>
        </div>
        <h2 class="panel">Partitions</h2>
        <div class="scroll"><table id="partitions"></table></div>
        <h2 class="panel">Brokers</h2>
        <table id="brokers"></table>
        <div class="moves" id="health"></div>
        <h2 class="panel">Consumer groups</h2>
        <div class="scroll"><table id="groups"></table></div>
      </section>
      <section>
        <h2>Events</h2>
        <div id="events"></div>
      </section>
    </main>
    <script>
    "use strict";
    const $ = (id) => document.getElementById(id);
    const el = (tag, cls, text) => {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    };
    let topic = decodeURIComponent(location.hash.slice(1));
    let pending = null;

    async function get(path) {
      const r = await fetch(path, {cache: "no-store"});
      if (!r.ok) throw new Error(path + ": " + r.status);
      return r.json();
    }

    // Per broker and partition, the replica's lag as the leader reports it.
    let lags = new Map();

    function chip(cell, position, broker, live) {
      const state = cell.offline ? "offline" : !cell.in_sync ? "out-of-sync"
        : position === 0 || cell.moved_leader ? "leader" : "in-sync";
      const c = el("span", "chip " + state + (cell.moved_leader ? " moved" : ""), cell.label);
      c.dataset.partition = cell.partition;
      c.dataset.state = state;
      const lag = live ? lags.get(broker + "/" + cell.partition) : undefined;
      if (state === "out-of-sync" && lag !== undefined) c.dataset.lag = "lag " + lag;
      c.title = "P" + cell.partition + " on B" + broker + ": " + state +
        (lag ? ", " + lag + " behind the leader" : "");
      return c;
    }

    function drawLayout(t, layout, partitions, live) {
      t.replaceChildren();
      t.classList.toggle("compact", partitions > 200);
      const head = el("tr");
      head.append(el("th", "", "Brokers"), el("th", "", "Leaders"));
      for (let i = 1; i < layout.positions; i++) head.append(el("th", "", "Followers"));
      t.append(head);
      for (const row of layout.rows) {
        const tr = el("tr");
        tr.dataset.broker = row.broker;
        tr.append(el("td", "broker" + (row.registered ? "" : " absent"), row.label));
        const positions = [row.leaders, ...row.followers];
        positions.forEach((cells, i) => {
          const td = el("td");
          td.dataset.position = i;
          for (const cell of cells) td.append(chip(cell, i, row.broker, live));
          tr.append(td);
        });
        t.append(tr);
      }
      highlight();
    }

    function highlight() {
      const want = $("find").value.trim().replace(/^p/i, "");
      for (const c of document.querySelectorAll(".chip[data-partition]"))
        c.classList.toggle("hit", want !== "" && c.dataset.partition === want);
    }

    function ago(ms) {
      if (ms === undefined || ms === null) return "";
      const s = Math.max(0, (Date.now() - ms) / 1000);
      return s < 1 ? "now" : s < 120 ? Math.round(s) + " s ago" : Math.round(s / 60) + " min ago";
    }

    function drawPartitions(view) {
      const t = $("partitions");
      t.replaceChildren();
      const head = el("tr");
      for (const h of ["Partition", "Leader", "Epoch", "Replicas", "ISR", "HW",
                       "Replica LEO (lag, caught up)"])
        head.append(el("th", "", h));
      t.append(head);
      lags = new Map();
      for (const p of view.partitions) {
        const tr = el("tr");
        tr.dataset.partition = p.partition;
        const states = (p.replica_states || []).map(s => {
          lags.set(s.broker_id + "/" + p.partition, s.lag);
          if (s.log_end_offset < 0)
            return "B" + s.broker_id + ": not fetched from this leader yet";
          return "B" + s.broker_id + ": " + s.log_end_offset +
            (s.broker_id === p.leader ? "" : " (" + s.lag +
              (s.last_caught_up_time_ms ? ", " + ago(s.last_caught_up_time_ms) : "") + ")");
        });
        const cells = [p.partition, p.leader, p.leader_epoch, p.replicas.join(","),
                       p.isr.join(","), p.high_watermark ?? "",
                       p.replica_states ? states.join("  ") : "leader not reachable"];
        cells.forEach((v, i) => tr.append(el("td", i === 5 ? "num" : "", String(v))));
        t.append(tr);
      }
    }

    function drawBrokers(cluster) {
      const t = $("brokers");
      t.replaceChildren();
      const head = el("tr");
      for (const h of ["Broker", "Rack", "Address", "State", "Leaders", "Replicas"])
        head.append(el("th", "", h));
      t.append(head);
      for (const b of cluster.brokers) {
        const tr = el("tr", b.fenced ? "fenced" : "");
        tr.dataset.broker = b.id;
        const state = b.fenced ? "fenced" : b.in_controlled_shutdown ? "shutting down"
          : "active" + (b.id === cluster.controller_id ? ", controller" : "");
        [b.id, b.rack || "-", b.host + ":" + b.port, state, b.leaders, b.replicas].forEach(
          (v, i) => tr.append(el("td", i >= 4 ? "num" : "", String(v))));
        t.append(tr);
      }
      const line = (title, list) => title + (list.length ? " (" + list.length + "): " +
        list.slice(0, 50).map(p => p.topic + "-" + p.partition).join(" ") +
        (list.length > 50 ? " …" : "") : ": none");
      $("health").textContent = line("Under-replicated partitions", cluster.under_replicated) +
        ".  " + line("Offline partitions", cluster.offline) + ".";
      if (!$("plan-brokers").value)
        $("plan-brokers").value = cluster.brokers.filter(b => !b.fenced)
          .map(b => b.id + (b.rack ? ":" + b.rack : "")).join(",");
      const boxes = $("fail-boxes");
      const ids = cluster.brokers.map(b => String(b.id));
      if ([...boxes.querySelectorAll("input")].map(i => i.value).join() !== ids.join()) {
        boxes.replaceChildren(...cluster.brokers.map(b => {
          const l = el("label");
          const i = el("input");
          i.type = "checkbox";
          i.value = String(b.id);
          i.addEventListener("change", whatIf);
          l.append(i, document.createTextNode(" " + (b.rack ? b.rack + "-" : "") + "B" + b.id));
          return l;
        }));
      }
    }

    async function whatIf() {
      const failed = [...$("fail-boxes").querySelectorAll("input:checked")].map(i => i.value);
      const t = $("whatif");
      if (!topic || failed.length === 0) {
        t.replaceChildren();
        $("moves").textContent = "Tick brokers to see where " + (topic || "the topic") +
          "'s leadership would move (first surviving in-sync replica).";
        return;
      }
      try {
        const answer = await get("/v1/placement?topic=" + encodeURIComponent(topic) +
          "&fail=" + failed.join(","));
        const f = answer.failover;
        $("moves").textContent = describeMoves(f);
        drawLayout(t, f.layout, answer.partitions.length, false);
      } catch (e) {
        $("moves").textContent = "what-if: " + e.message;
      }
    }

    function describeMoves(f) {
      const moved = f.leaders.filter(l => l.leader !== l.was);
      return (moved.length ? moved.slice(0, 100).map(l => "P" + l.partition + ": " +
          (l.leader === null ? "offline" : "B" + l.was + " → B" + l.leader)).join(", ") +
          (moved.length > 100 ? " … (" + moved.length + " moves)" : "")
        : "No leader moves.") +
        "  Leaders per surviving broker: " +
        f.leader_counts.map(c => "B" + c.broker + " " + c.leaders).join(", ") + ".";
    }

    async function explain(ev) {
      if (ev) ev.preventDefault();
      const q = new URLSearchParams();
      const brokers = $("plan-brokers").value.trim();
      if (brokers) q.set("brokers", brokers);
      q.set("partitions", $("plan-partitions").value.trim());
      q.set("replication-factor", $("plan-rf").value.trim());
      const fail = $("plan-fail").value.trim();
      if (fail) q.set("fail", fail);
      const r = await fetch("/v1/placement?" + q, {cache: "no-store"});
      const answer = await r.json();
      if (!r.ok) {
        $("plan-moves").textContent = answer.error;
        $("plan").replaceChildren();
        return;
      }
      const f = answer.failover;
      $("plan-moves").textContent = answer.partitions.length + " partitions over " +
        answer.brokers.length + " brokers" + (f ? ". If " + f.failed.map(b => "B" + b).join(", ") +
        " fail: " + describeMoves(f) : ".");
      drawLayout($("plan"), f ? f.layout : answer.layout, answer.partitions.length, false);
      document.body.dataset.planned = Date.now();
    }

    async function drawGroups() {
      const t = $("groups");
      let list;
      try { list = (await get("/v1/groups")).groups; } catch (e) { return; }
      const views = await Promise.all(list.map(g =>
        get("/v1/groups/" + encodeURIComponent(g.group_id)).catch(() => null)));
      t.replaceChildren();
      const head = el("tr");
      for (const h of ["Group", "State", "Coordinator", "Members", "Lag", "Lag per partition"])
        head.append(el("th", "", h));
      t.append(head);
      list.forEach((g, i) => {
        const v = views[i];
        const tr = el("tr");
        tr.dataset.group = g.group_id;
        const parts = v ? v.offsets.filter(o => o.lag).map(o =>
          o.topic + "-" + o.partition + ": " + o.lag) : [];
        [g.group_id, g.state, "B" + g.coordinator, v ? v.members.length : "?",
         v ? v.total_lag : "?", parts.join("  ")].forEach(
          (x, j) => tr.append(el("td", j === 3 || j === 4 ? "num" : "", String(x))));
        t.append(tr);
      });
      if (list.length === 0) {
        const tr = el("tr");
        const td = el("td", "small", "No consumer groups.");
        td.colSpan = 6;
        tr.append(td);
        t.append(tr);
      }
    }

    async function refresh() {
      pending = null;
      try {
        const cluster = await get("/v1/cluster");
        $("cluster").textContent = "cluster " + cluster.cluster_id + ", controller " +
          cluster.controller_id + ", node " + cluster.node_id;
        drawBrokers(cluster);
        const topics = (await get("/v1/topics")).topics;
        const select = $("topic");
        if (select.options.length !== topics.length ||
            [...select.options].some((o, i) => o.value !== topics[i])) {
          select.replaceChildren(...topics.map(n => { const o = el("option", "", n); o.value = n; return o; }));
        }
        if (!topics.includes(topic))
          topic = topics.find(n => !n.startsWith("__")) || topics[0] || "";
        select.value = topic;
        if (!topic) return;
        const [layout, view] = await Promise.all([
          get("/v1/topics/" + encodeURIComponent(topic) + "/layout"),
          get("/v1/topics/" + encodeURIComponent(topic))]);
        drawPartitions(view);
        drawLayout($("layout"), layout, view.partitions.length, true);
        $("title").textContent = "Replicas of " + layout.topic;
        document.body.dataset.updated = Date.now();
        whatIf();
        drawGroups();
      } catch (e) {
        $("title").textContent = "Replicas (" + e.message + ")";
      }
    }

    function soon() { if (!pending) pending = setTimeout(refresh, 150); }

    function showEvent(e) {
      const row = el("div");
      row.dataset.kind = e.kind;
      row.append(el("time", "", new Date(e.time_ms).toISOString().slice(11, 23)));
      row.append(document.createTextNode(e.kind.replace("_", " ") +
        (e.topic ? " " + e.topic + (e.partition !== undefined ? "-" + e.partition : "") : "") +
        ": " + e.reason));
      $("events").prepend(row);
      while ($("events").childElementCount > 500) $("events").lastChild.remove();
    }

    $("topic").addEventListener("change", (ev) => {
      topic = ev.target.value;
      location.hash = encodeURIComponent(topic);
      refresh();
    });
    $("find").addEventListener("input", highlight);
    $("plan-form").addEventListener("submit", explain);
    const source = new EventSource("/v1/events");
    source.onmessage = () => {};
    for (const kind of ["isr_shrink", "isr_expand", "leader_change", "broker_fenced",
                        "broker_unfenced", "broker_registered", "topic_created", "topic_deleted"])
      source.addEventListener(kind, (m) => { showEvent(JSON.parse(m.data).event); soon(); });
    refresh();
    setInterval(refresh, 5000);
    </script>
    </body>
    </html>
    """#
}
