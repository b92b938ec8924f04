"""The report's inline CSS and JavaScript: no library, nothing fetched, small enough to read."""

from __future__ import annotations

import base64
import hashlib

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1280px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
nav a{margin-right:.8rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.82rem}
th,td{border:1px solid #ddd;padding:.22rem .45rem;text-align:right;vertical-align:top}th{background:#f4f4f4}
td.l,th.l{text-align:left}.muted{color:#777}.bad{color:#b00020}.note{font-size:.85rem;color:#555;max-width:70rem}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:" ▲"}
table.sortable th[aria-sort=descending]::after{content:" ▼"}
table.sticky thead th{position:sticky;top:0;z-index:2;box-shadow:0 1px 0 #ddd}
table.rvm td{min-width:4rem}table.rvm td:last-child{min-width:16rem}.q{white-space:nowrap}
.figure{overflow-x:auto}.figure svg{max-width:100%;height:auto}
.tools{margin:.4rem 0}.tools input{padding:.25rem .4rem;min-width:22rem}.tools label{margin-left:.6rem;font-size:.85rem}
.plot-tools{font-size:.8rem;margin:.2rem 0 .4rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:flex-start}
.plot-tools button{min-width:1.8rem}.plot-tools details{max-width:100%}
.plot-tools fieldset{display:inline-block;border:1px solid #ddd;margin:.2rem .3rem;padding:.1rem .4rem;vertical-align:top}
.plot-tools fieldset label{display:inline-block;margin-right:.6rem;white-space:nowrap}
.figure svg.zoomed{cursor:grab}
.badge{display:inline-block;padding:0 .35rem;border-radius:.25rem;font-size:.75rem;background:#eee}
.badge.noisy{background:#E69F00;color:#000}.badge.failed,.badge.timeout{background:#D55E00;color:#fff}
.badge.skipped{background:#bbb}.badge.ok{background:#009E73;color:#fff}
.badge.contended{background:#CC79A7;color:#000}.badge.imprecise{background:#F0E442;color:#000}
.banner{border:2px solid #D55E00;background:#fff3ec;padding:.5rem .8rem;margin:.8rem 0}
details.cell{border:1px solid #e2e2e2;border-radius:.3rem;margin:.3rem 0;padding:.2rem .6rem}
details.cell summary{cursor:pointer}pre{white-space:pre-wrap;font-size:.8rem;background:#f7f7f7;padding:.5rem}
.cols{display:flex;gap:1.2rem;flex-wrap:wrap;align-items:flex-start}
@media print{
 body{max-width:none;margin:0;padding:0;font-size:10pt}
 nav,.tools,.plot-tools,#csv-download{display:none}
 .figure{overflow:visible;break-inside:avoid}.figure svg{max-width:100%;height:auto}
 table.sticky thead th{position:static;box-shadow:none}thead{display:table-header-group}tr{break-inside:avoid}
 h2,h3{break-after:avoid}.banner{break-inside:avoid}
}
@media (max-width:700px){
 body{margin:1rem auto;padding:0 .5rem}
 table{display:block;overflow-x:auto;max-width:100%}
 .figure svg{width:100%;height:auto}
 .tools input{min-width:0;width:100%}.cols{display:block}
}
"""

JS = """
(function () {
  function key(td) { var v = td.getAttribute('data-v'); return v === null ? td.textContent.trim() : v; }
  function cmp(a, b) {
    var x = parseFloat(a), y = parseFloat(b), nx = a !== '' && !isNaN(x), ny = b !== '' && !isNaN(y);
    if (nx && ny) return x - y;
    if (nx) return -1;
    if (ny) return 1;
    return a.localeCompare(b);
  }
  document.querySelectorAll('table.sortable').forEach(function (t) {
    var heads = t.querySelectorAll('thead th');
    heads.forEach(function (th, i) {
      th.tabIndex = 0;
      th.title = 'Sort by this column';
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) { var c = cmp(key(r.cells[i]), key(s.cells[i])); return asc ? c : -c; });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
    });
  });
  function applyFilters(tid) {
    var t = document.getElementById(tid), count = document.getElementById(tid + '-count');
    var input = document.querySelector('input.filter[data-table="' + tid + '"]');
    var terms = input ? input.value.toLowerCase().split(/\\s+/).filter(Boolean) : [];
    var picks = Array.prototype.filter.call(
      document.querySelectorAll('select.facet[data-table="' + tid + '"]'), function (s) { return s.value !== ''; });
    var rows = t.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], text = r.textContent.toLowerCase();
      if (r.facets === undefined) r.facets = JSON.parse(r.getAttribute('data-facets') || '{}');
      var show = terms.every(function (w) { return text.indexOf(w) >= 0; }) && picks.every(function (s) {
        return (r.facets[s.getAttribute('data-facet')] || []).indexOf(s.value) >= 0;
      });
      r.hidden = !show;
      if (show) shown++;
    }
    if (count) count.textContent = shown + ' of ' + rows.length + ' rows';
  }
  document.querySelectorAll('input.filter').forEach(function (input) {
    input.addEventListener('input', function () { applyFilters(input.getAttribute('data-table')); });
  });
  document.querySelectorAll('select.facet').forEach(function (s) {
    s.addEventListener('change', function () { applyFilters(s.getAttribute('data-table')); });
  });
  var GROUPS = [['model', 'models'], ['target', 'targets'], ['opt', 'optimizations'], ['technique', 'technique, bits']];
  function element(tag, text, cls) {
    var e = document.createElement(tag);
    if (text) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function showHide(svg, marked, bar) {
    var hidden = {}, panel = element('details'), any = false;
    panel.appendChild(element('summary', 'Show or hide'));
    function refresh() {
      marked.forEach(function (g) {
        var off = GROUPS.some(function (k) {
          var v = g.getAttribute('data-' + k[0]);
          return v !== null && hidden[k[0] + '\\u0000' + v];
        });
        g.style.display = off ? 'none' : '';
      });
    }
    GROUPS.forEach(function (k) {
      var values = [];
      marked.forEach(function (g) {
        var v = g.getAttribute('data-' + k[0]);
        if (v !== null && values.indexOf(v) < 0) values.push(v);
      });
      if (values.length < 2) return;
      any = true;
      values.sort();
      var set = element('fieldset'), boxes = [];
      set.appendChild(element('legend', k[1]));
      ['all', 'none'].forEach(function (which) {
        var b = element('button', which);
        b.type = 'button';
        b.addEventListener('click', function () {
          boxes.forEach(function (box) { box.checked = which === 'all'; box.dispatchEvent(new Event('change')); });
        });
        set.appendChild(b);
      });
      values.forEach(function (v) {
        var label = element('label'), box = element('input');
        box.type = 'checkbox';
        box.checked = true;
        box.value = v;
        box.setAttribute('data-key', k[0]);
        box.addEventListener('change', function () {
          if (box.checked) delete hidden[k[0] + '\\u0000' + v]; else hidden[k[0] + '\\u0000' + v] = true;
          refresh();
        });
        boxes.push(box);
        label.appendChild(box);
        label.appendChild(document.createTextNode(' ' + v));
        set.appendChild(label);
      });
      panel.appendChild(set);
    });
    if (any) bar.appendChild(panel);
  }
  function zoomable(svg, bar) {
    var base = (svg.getAttribute('viewBox') || '').split(/[\\s,]+/).map(Number);
    if (base.length !== 4 || !base.every(isFinite)) return;
    var view = base.slice(), drag = null;
    function show(v) {
      v[0] = Math.max(base[0], Math.min(v[0], base[0] + base[2] - v[2]));
      v[1] = Math.max(base[1], Math.min(v[1], base[1] + base[3] - v[3]));
      view = v;
      svg.setAttribute('viewBox', v.join(' '));
      svg.classList.toggle('zoomed', v[2] < base[2]);
    }
    function zoom(f, cx, cy) {
      var w = Math.min(base[2], view[2] * f), h = Math.min(base[3], view[3] * f);
      if (cx === undefined) { cx = view[0] + view[2] / 2; cy = view[1] + view[3] / 2; }
      show([cx - (cx - view[0]) * w / view[2], cy - (cy - view[1]) * h / view[3], w, h]);
    }
    [['+', 'Zoom in', function () { zoom(2 / 3); }], ['\\u2212', 'Zoom out', function () { zoom(1.5); }],
     ['reset', 'Show the whole figure', function () { show(base.slice()); }]].forEach(function (c) {
      var b = element('button', c[0]);
      b.type = 'button';
      b.title = c[1];
      b.setAttribute('aria-label', c[1]);
      b.addEventListener('click', c[2]);
      bar.appendChild(b);
    });
    bar.appendChild(element('span', 'Ctrl or Alt + wheel zooms at the pointer; drag to pan; double-click resets.', 'muted'));
    svg.addEventListener('wheel', function (e) {
      if (!(e.ctrlKey || e.altKey || e.metaKey)) return;
      e.preventDefault();
      var r = svg.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 0.8 : 1.25, view[0] + (e.clientX - r.left) / r.width * view[2],
           view[1] + (e.clientY - r.top) / r.height * view[3]);
    }, {passive: false});
    svg.addEventListener('pointerdown', function (e) {
      if (view[2] >= base[2]) return;
      drag = {x: e.clientX, y: e.clientY, view: view.slice(), r: svg.getBoundingClientRect()};
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener('pointermove', function (e) {
      if (!drag) return;
      show([drag.view[0] - (e.clientX - drag.x) / drag.r.width * view[2],
            drag.view[1] - (e.clientY - drag.y) / drag.r.height * view[3], view[2], view[3]]);
    });
    svg.addEventListener('pointerup', function () { drag = null; });
    svg.addEventListener('dblclick', function () { show(base.slice()); });
  }
  document.querySelectorAll('.figure > svg').forEach(function (svg) {
    var marked = svg.querySelectorAll('g[data-model], g[data-target]');
    if (!marked.length) return;
    var bar = element('div', '', 'plot-tools');
    zoomable(svg, bar);
    showHide(svg, marked, bar);
    svg.parentNode.parentNode.insertBefore(bar, svg.parentNode);
  });
  var button = document.getElementById('csv-download');
  if (button) button.addEventListener('click', function () {
    var text = JSON.parse(document.getElementById('records-csv').textContent);
    var url = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
    var a = document.createElement('a');
    a.href = url;
    a.download = button.getAttribute('data-filename');
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 5000);
  });
})();
"""


def script_hash(js: str = JS) -> str:
    """The CSP hash that lets exactly this script run: any injected inline script is refused."""
    return "sha256-" + base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()


def csp(js: str = JS) -> str:
    return (f"default-src 'none'; script-src '{script_hash(js)}'; style-src 'unsafe-inline'; "
            "img-src data:; base-uri 'none'; form-action 'none'")
