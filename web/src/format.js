// Number, time and duration formatting for the dashboard. Event times are shown in UTC
// (they are data times, the same for everyone); ages are relative to the wall clock.

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const dec1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const dec2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const DASH = '\u2014';

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/** 123456 → "123,456" (the reader's locale); null → "—". */
export function int(x) {
  return isNum(x) ? intFormat.format(Math.round(x)) : DASH;
}

/** One decimal: 46.53 → "46.5". */
export function num1(x) {
  return isNum(x) ? dec1.format(x) : DASH;
}

/** Two decimals, for sentiment in [-1, 1]. */
export function num2(x) {
  return isNum(x) ? dec2.format(x) : DASH;
}

/** Signed two decimals: 0.41 → "+0.41". */
export function signed2(x) {
  if (!isNum(x)) return DASH;
  return (x > 0 ? '+' : x < 0 ? '\u2212' : '') + dec2.format(Math.abs(x));
}

/** A rate: 9000.4 → "9,000"; 3.25 → "3.3". */
export function rate(x) {
  if (!isNum(x)) return DASH;
  return Math.abs(x) >= 100 ? int(x) : num1(x);
}

/** A ratio: 11.4 → "×11.4". */
export function ratio(x) {
  return isNum(x) ? '\u00d7' + num1(x) : DASH;
}

/** Bytes as KiB / MiB / GiB. */
export function bytes(x) {
  if (!isNum(x)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = x;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return (i === 0 ? int(v) : num1(v)) + '\u00a0' + units[i];
}

/** A duration in seconds, compact: 0.4 → "0.4 s", 75 → "1 min 15 s", 90000 → "1 d 1 h". */
export function duration(seconds) {
  if (!isNum(seconds)) return DASH;
  const neg = seconds < 0;
  let s = Math.abs(seconds);
  let out;
  if (s < 10) out = num1(s) + '\u00a0s';
  else if (s < 60) out = int(Math.floor(s)) + '\u00a0s';
  else if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = Math.floor(s % 60);
    out = m + '\u00a0min' + (r && m < 10 ? ' ' + r + '\u00a0s' : '');
  } else if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    out = h + '\u00a0h' + (m ? ' ' + m + '\u00a0min' : '');
  } else {
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    out = int(d) + '\u00a0d' + (h && d < 10 ? ' ' + h + '\u00a0h' : '');
  }
  return neg ? '\u2212' + out : out;
}

/** "12 s ago", "just now", "3 min ago". */
export function ago(seconds) {
  if (!isNum(seconds)) return DASH;
  if (seconds < 1) return 'just now';
  if (seconds < 60) return Math.floor(seconds) + '\u00a0s ago';
  return duration(seconds) + ' ago';
}

/** Parses an RFC 3339 time; null when absent or invalid. */
export function parseTime(iso) {
  if (typeof iso !== 'string' || iso === '') return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

const pad = (n) => String(n).padStart(2, '0');

/** "2021-01-28 14:05:00 UTC" */
export function utc(iso) {
  const ms = parseTime(iso);
  if (ms == null) return DASH;
  const d = new Date(ms);
  return (
    d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
    pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + ' UTC'
  );
}

/** "01-28 14:05:00" — compact, for lists. */
export function utcShort(iso) {
  const ms = parseTime(iso);
  if (ms == null) return DASH;
  const d = new Date(ms);
  return (
    pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
    pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds())
  );
}

/** A window "01-28 14:00–14:05" (the end's date too when it differs). */
export function windowRange(startIso, endIso) {
  const a = parseTime(startIso);
  if (a == null) return DASH;
  const s = new Date(a);
  const day = pad(s.getUTCMonth() + 1) + '-' + pad(s.getUTCDate());
  let out = day + ' ' + pad(s.getUTCHours()) + ':' + pad(s.getUTCMinutes());
  const b = parseTime(endIso);
  if (b != null) {
    const e = new Date(b);
    const eday = pad(e.getUTCMonth() + 1) + '-' + pad(e.getUTCDate());
    out += '\u2013' + (eday !== day && !(e.getUTCHours() === 0 && e.getUTCMinutes() === 0 && b - a <= 86400000) ? eday + ' ' : '') +
      pad(e.getUTCHours()) + ':' + pad(e.getUTCMinutes());
  }
  return out;
}

/** Plural: plural(1, 'alert') → "1 alert", plural(3, 'alert') → "3 alerts". */
export function plural(n, word, many) {
  return int(n) + '\u00a0' + (n === 1 ? word : many || word + 's');
}
