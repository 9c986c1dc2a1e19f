(function () {
  "use strict";
  var tip = document.getElementById("tip");
  document.addEventListener("mousemove", function (e) {
    var h = e.target && e.target.getAttribute ? e.target.getAttribute("data-h") : null;
    if (!h) { tip.style.display = "none"; return; }
    tip.textContent = h;
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = (e.clientY + 16) + "px";
  });
  var svg = document.getElementById("timeline");
  if (svg) {
    var zoom = document.getElementById("tl-zoom");
    var ticks = document.getElementById("tl-ticks");
    var L = +svg.dataset.left, W = +svg.dataset.width, top = +svg.dataset.top;
    var t0 = +svg.dataset.t0, t1 = +svg.dataset.t1, H = +svg.getAttribute("height");
    var k = 1, tx = 0, NS = "http://www.w3.org/2000/svg";
    var clamp = function () { tx = Math.min(0, Math.max(W - W * k, tx)); };
    var units = function (e) {
      var r = svg.getBoundingClientRect();
      return (e.clientX - r.left) * (svg.viewBox.baseVal.width / r.width) - L;
    };
    var drawTicks = function () {
      while (ticks.firstChild) ticks.removeChild(ticks.firstChild);
      var a = t0 + (-tx / k) / W * (t1 - t0), b = t0 + ((W - tx) / k) / W * (t1 - t0);
      var span = (b - a) / 1e9, step = Math.pow(10, Math.floor(Math.log10(span / 8)));
      if (span / step > 16) step *= 5; else if (span / step > 8) step *= 2;
      var digits = Math.max(0, -Math.floor(Math.log10(step)));
      for (var s = Math.ceil(a / 1e9 / step) * step; s <= b / 1e9; s += step) {
        var x = L + tx + ((s * 1e9 - t0) / (t1 - t0)) * W * k;
        var line = document.createElementNS(NS, "line");
        line.setAttribute("x1", x); line.setAttribute("x2", x);
        line.setAttribute("y1", top - 4); line.setAttribute("y2", H);
        line.setAttribute("stroke", "#ddd");
        var label = document.createElementNS(NS, "text");
        label.setAttribute("x", x + 2); label.setAttribute("y", top - 8);
        label.setAttribute("fill", "#555");
        label.textContent = s.toFixed(digits) + " s";
        ticks.appendChild(line); ticks.appendChild(label);
      }
    };
    var apply = function () {
      clamp();
      zoom.setAttribute("transform", "translate(" + (L + tx) + " 0) scale(" + k + " 1)");
      drawTicks();
    };
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var mx = units(e), nk = Math.min(5000, Math.max(1, k * (e.deltaY < 0 ? 1.3 : 1 / 1.3)));
      tx = mx - (mx - tx) * (nk / k); k = nk; apply();
    }, { passive: false });
    var dragX = null;
    svg.addEventListener("mousedown", function (e) { dragX = units(e); });
    window.addEventListener("mouseup", function () { dragX = null; });
    svg.addEventListener("mousemove", function (e) {
      if (dragX === null) return;
      var mx = units(e); tx += mx - dragX; dragX = mx; apply();
    });
    svg.addEventListener("dblclick", function () { k = 1; tx = 0; apply(); });
    apply();
    // Opened as report.html#selftest (by the browser test): hover the first bar and
    // zoom once, then record whether the tooltip showed and the axis zoomed.
    if (location.hash === "#selftest") {
      var bar = svg.querySelector("#tl-zoom rect[data-h]");
      var hover = false;
      if (bar) {
        bar.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 10, clientY: 10 }));
        hover = tip.style.display === "block" && tip.textContent === bar.getAttribute("data-h");
      }
      var r = svg.getBoundingClientRect();
      svg.dispatchEvent(new WheelEvent("wheel", {
        deltaY: -100, clientX: r.left + r.width / 2, clientY: r.top + 30, bubbles: true, cancelable: true
      }));
      var zoomed = zoom.getAttribute("transform").indexOf("scale(1 1)") < 0;
      document.body.setAttribute("data-selftest", hover && zoomed ? "pass" : "fail");
    }
  }
  document.body.setAttribute("data-ready", "1");
})();
