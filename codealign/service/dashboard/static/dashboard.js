/* codealign dashboard: draws the charts (uPlot), sorts tables, follows a running run.
   Each chart sets data-ready="1" once drawn; browser tests wait for that mark. */
(function () {
  "use strict";
  var COLORS = ["#1f6feb", "#8250df", "#d97706", "#0f766e", "#be123c", "#4d7c0f"];

  function chartOptions(el, spec) {
    var kind = el.dataset.kind;
    var width = Math.max(320, el.clientWidth || 640);
    var height = el.classList.contains("small") ? 200 : 300;
    var series = [{label: spec.xlabel || "round"}];
    spec.series.forEach(function (s, i) {
      var color = COLORS[i % COLORS.length];
      var one = {label: s.label, stroke: color, width: 2, spanGaps: true, points: {show: true, size: 6}};
      if (kind === "bars") {
        one.fill = color + "88";
        one.paths = uPlot.paths.bars({size: [0.9, 60]});
        one.points = {show: false};
      }
      series.push(one);
    });
    return {width: width, height: height, series: series,
            scales: {x: {time: false}}, legend: {live: false},
            axes: [{label: spec.xlabel || "round", incrs: kind === "bars" ? undefined : [1, 2, 5, 10, 20, 50, 100, 200, 500]},
                   {size: 64}]};
  }

  function drawChart(el) {
    var spec = JSON.parse(el.dataset.chart);
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    if (!spec.x.length) {
      el.textContent = "no data";
      el.dataset.ready = "1";
      return;
    }
    var opts = chartOptions(el, spec);
    if (el.dataset.marks === "status") {
      // promoted / rejected rounds as marks on the held-out pass@1 line
      ["promoted", "rejected"].forEach(function (status, i) {
        data.push(spec.x.map(function (_, j) { return spec.status[j] === status ? spec.series[0].values[j] : null; }));
        opts.series.push({label: status, stroke: i ? "#be123c" : "#15803d", width: 0,
                          paths: function () { return null; },
                          points: {show: true, size: 12, fill: i ? "#be123c" : "#15803d"}});
      });
    }
    opts.hooks = {draw: [function () { el.dataset.ready = "1"; }]};
    new uPlot(opts, data, el);
  }

  function sortTable(th) {
    var table = th.closest("table");
    var key = th.dataset.sort;
    var desc = table.dataset.sorted === key + ":asc";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      if (key === "task") {
        var c = a.dataset.task < b.dataset.task ? -1 : a.dataset.task > b.dataset.task ? 1 : 0;
        return desc ? -c : c;
      }
      var x = a.dataset[key], y = b.dataset[key];
      if (x === "" || y === "") return (x === "") - (y === "");     // unknown last
      return desc ? parseFloat(y) - parseFloat(x) : parseFloat(x) - parseFloat(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.dataset.sorted = key + (desc ? ":desc" : ":asc");
  }

  var TERMINAL = ["succeeded", "failed", "canceled"];

  function follow(section) {
    var tbody = section.querySelector("#live-events tbody");
    function setText(id, text) { document.getElementById(id).textContent = text; }
    function apply(payload) {
      var state = payload.state;
      section.dataset.status = state.status;
      section.dataset.round = state.round === null ? "" : state.round;
      section.dataset.stage = state.stage || "";
      var badge = document.getElementById("live-status");
      badge.textContent = state.status;
      badge.className = "badge " + state.status;
      setText("live-round", state.round === null ? "–" : state.round);
      setText("live-stage", state.stage || "–");
      payload.events.forEach(function (e) {
        var tr = document.createElement("tr");
        tr.dataset.seq = e.seq;
        var detail = Object.keys(e).filter(function (k) { return ["seq", "time", "type"].indexOf(k) < 0; })
          .map(function (k) { return k + "=" + JSON.stringify(e[k]); }).join(" ");
        [e.seq, e.time, e.type, detail].forEach(function (v, i) {
          var td = document.createElement("td");
          td.textContent = v;
          if (i === 3) td.className = "detail";
          tr.appendChild(td);
        });
        tbody.insertBefore(tr, tbody.firstChild);
        while (tbody.rows.length > parseInt(section.dataset.keep, 10)) tbody.deleteRow(-1);
        if (e.type === "progress") {
          var p = document.getElementById("live-progress");
          p.dataset.done = e.done;
          p.dataset.total = e.total;
          p.querySelector("progress").max = e.total || 1;
          p.querySelector("progress").value = e.done;
          p.querySelector(".label").textContent = "round " + e.round + " · " + (e.label || e.stage) + " " + e.done + "/" + e.total;
        }
      });
      section.dataset.lastSeq = payload.last_seq;
      setText("live-seq", payload.last_seq);
    }
    function poll() {
      fetch(section.dataset.eventsUrl + "?after=" + section.dataset.lastSeq, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (payload) {
          if (payload) apply(payload);
          if (TERMINAL.indexOf(section.dataset.status) < 0) setTimeout(poll, 1000);
          else section.dataset.done = "1";
        });
    }
    poll();
  }

  document.querySelectorAll(".chart[data-chart]").forEach(drawChart);
  document.querySelectorAll("table.sortable th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () { sortTable(th); });
  });
  // No inline handlers: the service's CSP allows scripts from /static only.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  var live = document.getElementById("live");
  if (live) follow(live);
  document.body.dataset.ready = "1";
})();
