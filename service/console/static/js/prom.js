// The Prometheus text exposition format (what GET /metrics answers), read into samples, and histogram sums.

/** Parse the text into [{name, labels: {..}, value}] (comments and HELP/TYPE lines skipped). */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[2])) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels pass `keep`. */
export function total(samples, name, keep = () => true) {
  let sum = 0;
  for (const s of samples) if (s.name === name && keep(s.labels)) sum += s.value;
  return sum;
}

/** A histogram's cumulative bucket counts {le: count}, summed over the series whose labels pass `keep`. */
export function buckets(samples, name, keep = () => true) {
  const out = new Map();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !keep(s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    out.set(le, (out.get(le) || 0) + s.value);
  }
  return new Map([...out.entries()].sort((a, b) => a[0] - b[0]));
}

/** `now - before`, bucket by bucket (the observations between two reads). */
export function diff(now, before) {
  const out = new Map();
  for (const [le, count] of now) out.set(le, count - (before?.get(le) || 0));
  return out;
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside its bucket (as Prometheus'
 * histogram_quantile does); null without observations. A quantile in the +Inf bucket is its lower edge.
 */
export function quantile(cumulative, q) {
  const entries = [...cumulative.entries()];
  const count = entries.length ? entries[entries.length - 1][1] : 0;
  if (!(count > 0)) return null;
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const [le, c] of entries) {
    if (c >= rank) {
      if (le === Infinity) return lower;
      const inside = c - below;
      return inside > 0 ? lower + ((le - lower) * (rank - below)) / inside : le;
    }
    lower = le;
    below = c;
  }
  return lower;
}
