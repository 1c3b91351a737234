// Draws the dashboard's daily chart with uPlot from the JSON the page embeds:
// {"days": ["2026-11-02", ...], "scale": 0, "issued": [..], "spent": [..]} (minor units).
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("daily-data");
    var target = document.getElementById("daily-chart");
    if (!data || !target || typeof uPlot === "undefined") { return; }
    var d = JSON.parse(data.textContent);
    // Amounts arrive in minor units; the chart shows them at the tenant's scale.
    function unit(v) { return v / Math.pow(10, d.scale); }
    var xs = d.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
    function fit() { return Math.max(240, Math.min(target.clientWidth || 800, 1100)); }
    var chart = new uPlot({
      title: "Credits issued and spent per day (UTC)",
      width: fit(),
      height: 300,
      series: [
        {},
        { label: "Issued", stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,0.08)" },
        { label: "Spent", stroke: "#a61b1b", width: 2 }
      ],
      axes: [{}, { label: "credits" }]
    }, [xs, d.issued.map(unit), d.spent.map(unit)], target);
    window.addEventListener("resize", function () {
      chart.setSize({ width: fit(), height: 300 });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
