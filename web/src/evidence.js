// The evidence drawer: one alert's figures against its baseline, its lifecycle, and the
// comments behind it (GET /api/v1/alerts/{alert_id}). Comment texts, authors, channels and
// entity names are text nodes only.

import { ApiError, get } from './api.js';
import { h, replace, setText } from './dom.js';
import * as fmt from './format.js';
import { drawBaselineBars, onThemeChange } from './charts.js';

const REFRESH_MS = 5000;

export class Evidence {
  constructor({ drawer, body, title, sub, closeBtn, isPaused, params, onAuth }) {
    Object.assign(this, { drawer, body, title, sub, closeBtn, isPaused, params, onAuth });
    this.alertId = null;
    this.data = null;
    this.timer = null;
    this.trigger = null;
    this.seq = 0;
    closeBtn.addEventListener('click', () => this.close(true));
    this.backdrop = document.getElementById('drawer-backdrop');
    this.backdrop.addEventListener('click', () => this.close(true));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.alertId) {
        e.preventDefault();
        this.close(true);
      }
    });
    this.resizer = new ResizeObserver(() => this.drawChart());
    this.resizer.observe(body);
    onThemeChange(() => this.drawChart());
  }

  open(alertId, trigger) {
    const same = this.alertId === alertId;
    this.alertId = alertId;
    this.trigger = trigger || null;
    this.drawer.hidden = false;
    this.setModal(true);
    for (const el of document.querySelectorAll('.alert-item.open')) el.classList.remove('open');
    const item = trigger && trigger.closest('.alert-item');
    if (item) item.classList.add('open');
    if (!same || !this.data) {
      this.data = null;
      setText(this.title, 'Alert');
      setText(this.sub, alertId);
      replace(this.body, h('p', { class: 'empty' }, 'Loading the evidence…'));
    }
    this.closeBtn.focus();
    this.refresh();
  }

  close(restoreFocus) {
    if (!this.alertId) return;
    this.alertId = null;
    this.data = null;
    this.seq += 1;
    clearTimeout(this.timer);
    this.timer = null;
    this.drawer.hidden = true;
    this.setModal(false);
    for (const el of document.querySelectorAll('.alert-item.open')) el.classList.remove('open');
    if (restoreFocus && this.trigger && this.trigger.isConnected) this.trigger.focus();
    this.trigger = null;
  }

  /** The rest of the page is inert while the panel is open (a modal drawer). */
  setModal(on) {
    this.backdrop.hidden = !on;
    document.body.classList.toggle('drawer-open', on);
    for (const el of document.querySelectorAll('body > header, body > main, body > footer, #paused-bar, #banner, .skip')) {
      el.inert = on;
    }
  }

  async refresh() {
    const id = this.alertId;
    if (!id) return;
    clearTimeout(this.timer);
    this.timer = null;
    const seq = ++this.seq;
    try {
      const data = await get('/api/v1/alerts/' + encodeURIComponent(id));
      if (seq !== this.seq || id !== this.alertId) return;
      if (this.isPaused() && this.data) return;
      this.data = data;
      this.error = null;
      this.render();
    } catch (e) {
      if (seq !== this.seq || id !== this.alertId) return;
      if (e instanceof ApiError && e.status === 401) {
        this.onAuth(e);
        return;
      }
      this.error = e instanceof ApiError ? e.message + (e.status ? ' (' + e.status + ' ' + e.code + ')' : '') : String(e.message || e);
      if (this.data) this.render();
      else replace(this.body, h('p', { class: 'drawer-error', role: 'alert' }, this.error));
      if (e instanceof ApiError && e.status === 404) return;
    }
    // While the evidence is not in a snapshot yet (or the request failed), look again.
    if (!this.data || this.data.evidence == null) {
      this.timer = setTimeout(() => {
        if (!this.isPaused()) this.refresh();
        else this.timer = null;
      }, REFRESH_MS);
    }
  }

  render() {
    const d = this.data;
    const events = Array.isArray(d.events) ? d.events : [];
    const latest = events[events.length - 1] || {};
    const fig = d.window || latest;
    setText(this.title, d.entity_name || d.entity_id || 'Alert');
    replace(
      this.sub,
      h('span', { class: 'mono' }, d.entity_id),
      ' · window ',
      h('span', { class: 'num' }, fmt.windowRange(d.window_start, d.window_end)),
      ' UTC · ',
      h('span', { class: 'badge ' + (d.state === 'retracted' ? 'badge-retracted' : 'badge-fired') }, d.state || latest.kind || '?'),
    );

    const params = this.params();
    const base = d.baseline || {};
    const mean = base.mean ?? fig.baseline_mean;
    const std = base.std ?? fig.baseline_std;
    const zThr = Number.isFinite(params.z_threshold) ? params.z_threshold : null;
    this.threshold = zThr != null && mean != null ? mean + zThr * Math.max(std || 0, 1) : null;

    const children = [];
    if (this.error) children.push(h('p', { class: 'drawer-error', role: 'alert' }, this.error + ' — showing what was loaded before.'));
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'The baseline windows and the alert window' });
    this.canvasWrap = h('div', { class: 'ev-chart' }, this.canvas);
    children.push(
      figuresSection({ fig, base, mean, std, zThr, threshold: this.threshold, chart: this.canvasWrap }),
      lifecycleSection(events),
      ...commentsSections(d),
      h('p', { class: 'muted small mono ev-id' }, d.alert_id),
    );
    replace(this.body, children);
    this.drawChart();
  }

  drawChart() {
    if (!this.data || !this.canvas || !this.canvas.isConnected) return;
    const d = this.data;
    const base = d.baseline || {};
    const events = Array.isArray(d.events) ? d.events : [];
    const fig = d.window || events[events.length - 1] || {};
    const width = Math.max(160, this.canvasWrap.clientWidth);
    drawBaselineBars(this.canvas, {
      baseline: Array.isArray(base.windows) ? base.windows : [],
      alertMentions: fig.mentions ?? null,
      mean: base.mean ?? fig.baseline_mean,
      threshold: this.threshold,
      width,
    });
  }
}

/** The alert's window against its baseline: the figures, the bars chart, the windows. */
function figuresSection({ fig, base, mean, std, zThr, threshold, chart }) {
  return h('section', { class: 'ev-section', 'aria-labelledby': 'ev-figures' },
    h('h3', { id: 'ev-figures' }, 'Figures vs baseline'),
    h('dl', { class: 'stats stats-wide' },
      figure('Mentions', fmt.int(fig.mentions)),
      figure('Baseline', fmt.num1(mean) + ' ± ' + fmt.num1(std)),
      figure('z', fmt.num1(fig.z), zThr != null && fig.z >= zThr ? 'hot' : null),
      figure('Ratio', fmt.ratio(fig.ratio)),
      figure('Authors', fmt.int(fig.authors)),
      figure('Sentiment', fmt.signed2(fig.sentiment_mean)),
      figure('Threshold', fmt.num1(threshold)),
    ),
    chart,
    Array.isArray(base.windows) && base.windows.length
      ? h('p', { class: 'muted small' },
          fmt.plural(base.windows.length, 'baseline window') + ': ' +
            base.windows.map((w) => fmt.int(w.mentions)).join(', ') + ' mentions; mean ' + fmt.num1(mean) + ', std ' + fmt.num1(std) + '.')
      : h('p', { class: 'muted small' }, 'No baseline windows.'),
  );
}

/** The alert's events: fired, updated…, retracted. */
function lifecycleSection(events) {
  return h('section', { class: 'ev-section', 'aria-labelledby': 'ev-life' },
    h('h3', { id: 'ev-life' }, 'Lifecycle'),
    events.length
      ? h('ol', { class: 'ev-events' },
          events.map((ev) =>
            h('li', null,
              h('span', { class: 'badge badge-' + ev.kind }, ev.kind),
              h('span', { class: 'num' }, fmt.utc(ev.as_of)),
              h('span', { class: 'num' }, fmt.int(ev.mentions) + ' mentions'),
              h('span', { class: 'num' }, 'z ' + fmt.num1(ev.z)),
              h('span', { class: 'num' }, fmt.ratio(ev.ratio)),
              ev.provisional ? h('span', { class: 'pill pill-muted' }, 'provisional') : null,
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'No events.'),
  );
}

/** The comments behind the alert and their authors, channels, co-mentioned entities. */
function commentsSections(d) {
  const evd = d.evidence;
  if (!evd) {
    return [
      h('section', { class: 'ev-section', 'aria-labelledby': 'ev-comments' },
        h('h3', { id: 'ev-comments' }, 'Comments'),
        h('p', { class: 'ev-note' }, d.evidence_note || 'No evidence is available for this alert.'),
      ),
    ];
  }
  const comments = Array.isArray(evd.comments) ? evd.comments : [];
  return [
    h('section', { class: 'ev-section', 'aria-labelledby': 'ev-comments' },
      h('h3', { id: 'ev-comments' }, 'Comments ',
        h('span', { class: 'muted small' },
          comments.length < (evd.comments_total || 0)
            ? fmt.int(comments.length) + ' of ' + fmt.int(evd.comments_total) + ', highest score first'
            : fmt.plural(comments.length, 'comment'),
          evd.snapshot != null ? ' · snapshot #' + evd.snapshot : '',
        ),
      ),
      comments.length
        ? h('ol', { class: 'comments' }, comments.map(commentItem))
        : h('p', { class: 'empty' }, 'No comments in the sample.'),
    ),
    h('div', { class: 'ev-columns' },
      countTable('Top authors', 'Author', (evd.authors || []).map((a) => [a.author, a.comments])),
      countTable('Channels', 'Channel', (evd.channels || []).map((c) => [c.channel, c.comments])),
      countTable('Co-mentioned', 'Entity', (evd.co_mentioned || []).map((c) => [
        [c.entity_name || c.entity_id, ' ', h('span', { class: 'mono muted' }, c.entity_id)],
        c.comments,
      ])),
    ),
  ];
}

function figure(label, value, cls) {
  return h('div', cls ? { class: cls } : null, h('dt', null, label), h('dd', null, value));
}

function commentItem(c) {
  return h('li', { class: 'comment' },
    h('div', { class: 'comment-meta' },
      h('span', { class: 'comment-author' }, c.author || 'unknown'),
      c.channel ? h('span', { class: 'comment-channel' }, c.channel) : null,
      h('time', { class: 'num', datetime: c.created_at || '' }, fmt.utc(c.created_at)),
      h('span', { class: 'num', title: 'score' }, '▲ ' + fmt.int(c.score)),
      h('span', { class: 'num ' + (c.sentiment > 0.05 ? 'pos' : c.sentiment < -0.05 ? 'neg' : ''), title: 'sentiment' }, 'sentiment ' + fmt.signed2(c.sentiment)),
    ),
    h('p', { class: 'comment-text' }, c.text == null ? '' : String(c.text)),
  );
}

function countTable(title, head, rows) {
  const max = Math.max(1, ...rows.map((r) => r[1] || 0));
  return h('section', { class: 'ev-section ev-count' },
    h('h3', null, title),
    rows.length
      ? h('table', { class: 'data compact' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, head), h('th', { scope: 'col', class: 'num' }, 'Comments'))),
          h('tbody', null,
            rows.map(([label, n]) => {
              const fill = h('span', { class: 'mini-bar' });
              fill.style.width = Math.max(2, (100 * (n || 0)) / max) + '%';
              return h('tr', null, h('td', { class: 'wrap' }, label, fill), h('td', { class: 'num' }, fmt.int(n)));
            }),
          ),
        )
      : h('p', { class: 'empty' }, 'None.'),
  );
}
