/// The web view served at `/`: one page, no external assets, that draws the deck's table of a
/// topic from `/v1/topics/{t}/layout` (the model `skein topic describe --layout` prints),
/// redraws it on every event of `/v1/events`, and lists the events, the partitions' offsets
/// and the brokers.
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
    </style>
    </head>
    <body>
    <header>
      <h1>Skein</h1>
      <span id="cluster"></span>
      <label>Topic <select id="topic"></select></label>
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
        <h2 style="margin-top:16px">Partitions</h2>
        <div class="scroll"><table id="partitions"></table></div>
        <h2 style="margin-top:16px">Brokers</h2>
        <div class="brokers" id="brokers"></div>
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

    function chip(cell, position) {
      const state = cell.offline ? "offline" : !cell.in_sync ? "out-of-sync"
        : position === 0 || cell.moved_leader ? "leader" : "in-sync";
      const c = el("span", "chip " + state + (cell.moved_leader ? " moved" : ""), cell.label);
      c.dataset.partition = cell.partition;
      c.dataset.state = state;
      c.title = "P" + cell.partition + ": " + state;
      return c;
    }

    function drawLayout(layout) {
      const t = $("layout");
      t.replaceChildren();
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
          for (const cell of cells) td.append(chip(cell, i));
          tr.append(td);
        });
        t.append(tr);
      }
      $("title").textContent = "Replicas of " + layout.topic;
    }

    function drawPartitions(view) {
      const t = $("partitions");
      t.replaceChildren();
      const head = el("tr");
      for (const h of ["Partition", "Leader", "Epoch", "Replicas", "ISR", "HW", "Replica LEO (lag)"])
        head.append(el("th", "", h));
      t.append(head);
      for (const p of view.partitions) {
        const tr = el("tr");
        const states = (p.replica_states || []).map(s =>
          s.broker_id + ": " + s.log_end_offset + (s.lag ? " (" + s.lag + ")" : ""));
        for (const v of [p.partition, p.leader, p.leader_epoch, p.replicas.join(","),
                         p.isr.join(","), p.high_watermark ?? "", states.join("  ")])
          tr.append(el("td", "", String(v)));
        t.append(tr);
      }
    }

    async function refresh() {
      pending = null;
      try {
        const cluster = await get("/v1/cluster");
        $("cluster").textContent = "cluster " + cluster.cluster_id + ", controller " +
          cluster.controller_id + ", node " + cluster.node_id;
        const b = $("brokers");
        b.replaceChildren();
        for (const br of cluster.brokers)
          b.append(el("span", br.fenced ? "fenced" : "",
            "B" + br.id + " " + (br.rack || "-") + " " + br.host + ":" + br.port +
            (br.fenced ? " fenced" : "")));
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
        drawLayout(layout);
        drawPartitions(view);
        document.body.dataset.updated = Date.now();
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
