// Two panels drawn from the status: "Alerts & dead letters" (events by kind, dead letters by
// reason as bars) and "State & health" (state sizes, memory, uptime, epochs, the rule).

import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';

export function renderOps(s) {
  const kinds = s.alerts || {};
  for (const k of ['fired', 'updated', 'retracted']) setText($('#kc-' + k), fmt.int(kinds[k] || 0));
  const dl = Object.entries(s.dead_letters || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const dlMax = Math.max(1, ...dl.map(([, n]) => n));
  setText($('#dl-total'), fmt.int(s.dead_letters_total ?? dl.reduce((a, [, n]) => a + n, 0)));
  $('#dl-empty').hidden = dl.length > 0;
  replace(
    $('#dead-letters'),
    dl.map(([reason, n]) => {
      const fill = h('span', { class: 'bar-fill' });
      fill.style.width = Math.max(1.5, (100 * n) / dlMax) + '%';
      return h('li', { class: 'bar-row' },
        h('span', { class: 'bar-label mono' }, reason),
        h('span', { class: 'bar-track', 'aria-hidden': 'true' }, fill),
        h('span', { class: 'bar-value num' }, fmt.int(n)),
      );
    }),
  );
}

export function renderHealth(s) {
  const st = s.state || {};
  const el = s.epoch_latency_ms || {};
  setText($('#st-comments'), fmt.int(st.live_comments));
  setText($('#st-windows'), fmt.int(st.window_rows));
  setText($('#st-rss'), fmt.bytes(st.resident_bytes));
  setText($('#st-uptime'), fmt.duration(s.uptime_seconds));
  setText($('#st-epochs'), fmt.int(el.epochs));
  setText($('#st-epoch-max'), el.epochs ? fmt.num1(el.max) + ' ms' : fmt.DASH);
  setText($('#st-params'), ruleText(s.params || {}));
  const reason = $('#st-reason');
  reason.hidden = !s.reason;
  setText(reason, s.reason ? 'Not ready: ' + s.reason : '');
}

function ruleText(p) {
  if (!p.window_seconds) return fmt.DASH;
  return [
    'window ' + fmt.duration(p.window_seconds),
    'baseline ' + fmt.plural(p.baseline_windows, 'window'),
    'at least ' + fmt.plural(p.min_mentions, 'mention'),
    'z ≥ ' + fmt.num1(p.z_threshold),
    'ratio ≥ ' + fmt.ratio(p.ratio_threshold),
  ].join(' · ');
}
