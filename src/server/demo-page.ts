/** The demo's single web page: a clock and a stock ticker fed by the browser's own EventSource. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald demo — live clock and ticker</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  .muted { opacity: .65; font-size: .9rem; }
  #clock { font: 600 3rem ui-monospace, monospace; margin: 1rem 0; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: .35rem .6rem; border-bottom: 1px solid #8884; }
  th:first-child, td:first-child { text-align: left; }
  .up { color: #1a7f37; } .down { color: #cf222e; }
  #status[data-state="open"] { color: #1a7f37; } #status[data-state="connecting"] { color: #9a6700; }
  #status[data-state="closed"] { color: #cf222e; }
</style>
</head>
<body>
<h1>Herald demo</h1>
<p class="muted">A Server-Sent Events stream from <code>/events</code>, read by the browser's
native <code>EventSource</code>. Reload or cut the connection: it resumes from
<code>Last-Event-ID</code>.</p>
<div id="clock">--:--:--</div>
<table>
  <thead><tr><th>Symbol</th><th>Price</th><th>Change</th></tr></thead>
  <tbody id="quotes"></tbody>
</table>
<p class="muted">Connection: <span id="status" data-state="connecting">connecting</span> ·
last event id <code id="last-id">–</code> · events received <span id="count">0</span></p>
<script>
  const status = document.getElementById('status');
  const rows = new Map();
  let count = 0;
  const source = new EventSource('/events');
  function setStatus(state) { status.dataset.state = state; status.textContent = state; }
  function seen(e) {
    count += 1;
    document.getElementById('count').textContent = String(count);
    document.getElementById('last-id').textContent = e.lastEventId || '–';
  }
  source.onopen = () => setStatus('open');
  source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
  source.addEventListener('tick', (e) => {
    seen(e);
    document.getElementById('clock').textContent = new Date(JSON.parse(e.data).time).toLocaleTimeString();
  });
  source.addEventListener('quote', (e) => {
    seen(e);
    const q = JSON.parse(e.data);
    let row = rows.get(q.symbol);
    if (!row) {
      row = document.createElement('tr');
      row.innerHTML = '<td></td><td></td><td></td>';
      row.cells[0].textContent = q.symbol;
      rows.set(q.symbol, row);
      document.getElementById('quotes').append(row);
    }
    row.cells[1].textContent = q.price.toFixed(2);
    row.cells[2].textContent = (q.change >= 0 ? '+' : '') + q.change.toFixed(2);
    row.className = q.change >= 0 ? 'up' : 'down';
  });
</script>
</body>
</html>
`;
