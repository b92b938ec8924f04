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
.figure{overflow-x:auto}.figure svg{max-width:100%;height:auto}
.tools{margin:.4rem 0}.tools input{padding:.25rem .4rem;min-width:22rem}
.badge{display:inline-block;padding:0 .35rem;border-radius:.25rem;font-size:.75rem;background:#eee}
.badge.noisy{background:#E69F00;color:#000}.badge.failed,.badge.timeout{background:#D55E00;color:#fff}
.badge.skipped{background:#bbb}.badge.ok{background:#009E73;color:#fff}
.badge.contended{background:#CC79A7;color:#000}.badge.imprecise{background:#F0E442;color:#000}
.banner{border:2px solid #D55E00;background:#fff3ec;padding:.5rem .8rem;margin:.8rem 0}
details.cell{border:1px solid #e2e2e2;border-radius:.3rem;margin:.3rem 0;padding:.2rem .6rem}
details.cell summary{cursor:pointer}pre{white-space:pre-wrap;font-size:.8rem;background:#f7f7f7;padding:.5rem}
.cols{display:flex;gap:1.2rem;flex-wrap:wrap;align-items:flex-start}
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
  document.querySelectorAll('input.filter').forEach(function (input) {
    var t = document.getElementById(input.getAttribute('data-table'));
    var count = document.getElementById(input.getAttribute('data-table') + '-count');
    input.addEventListener('input', function () {
      var terms = input.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0, rows = t.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        var text = rows[i].textContent.toLowerCase();
        var show = terms.every(function (w) { return text.indexOf(w) >= 0; });
        rows[i].hidden = !show;
        if (show) shown++;
      }
      if (count) count.textContent = shown + ' of ' + rows.length + ' rows';
    });
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
