// Draws the dashboard's daily chart with uPlot from the JSON the page embeds:
// {"days": ["2026-11-02", ...], "issued": [..], "spent": [..]} (whole credits).
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("daily-data");
    var target = document.getElementById("daily-chart");
    if (!data || !target || typeof uPlot === "undefined") { return; }
    var d = JSON.parse(data.textContent);
    var xs = d.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
    var width = Math.max(280, Math.min(target.clientWidth || 800, 1100));
    new uPlot({
      title: "Credits issued and spent per day (UTC)",
      width: width,
      height: 300,
      series: [
        {},
        { label: "Issued", stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,0.08)" },
        { label: "Spent", stroke: "#a61b1b", width: 2 }
      ],
      axes: [{}, { label: "credits" }]
    }, [xs, d.issued, d.spent], target);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
