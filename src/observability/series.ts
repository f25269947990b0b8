// Metrics observed on every request, without prom-client's work per observation (it validates
// and hashes the labels of each one, a labelled child's too): the caller looks a label set's
// series up once and keeps it; an observation is then an addition. prom-client still formats
// them, at scrape time, in its exposition format.
import { Counter, Histogram, type LabelValues, type MetricObjectWithValues, type MetricValueWithName, type Registry } from 'prom-client';

export interface CounterSeries {
  inc(): void;
}

export interface HistogramSeries {
  observe(value: number): void;
}

interface FamilyConfig<T extends string> {
  readonly registry: Registry;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
}

/** A counter: `series(labels)` once per label set (the same object for the same labels), then `inc()`. */
export function counterFamily<T extends string>(config: FamilyConfig<T>): (labels: Record<T, string>) => CounterSeries {
  const all = new Map<string, { readonly labels: Record<T, string>; value: number; inc(): void }>();
  new Counter<T>({
    name: config.name,
    help: config.help,
    labelNames: config.labelNames,
    registers: [config.registry],
    collect() {
      this.reset();
      for (const series of all.values()) this.inc(series.labels as LabelValues<T>, series.value);
    },
  });
  return (labels) => {
    const key = config.labelNames.map((name) => labels[name]).join('\n');
    let series = all.get(key);
    if (series === undefined) {
      series = {
        labels,
        value: 0,
        inc() {
          this.value += 1;
        },
      };
      all.set(key, series);
    }
    return series;
  };
}

/** A histogram: `series(labels)` once per label set (the same object for the same labels), then `observe(value)`. */
export function histogramFamily<T extends string>(config: FamilyConfig<T> & { readonly buckets: readonly number[] }): (labels: Record<T, string>) => HistogramSeries {
  const histogram = new SeriesHistogram<T>(config);
  return (labels) => histogram.series(labels);
}

interface HistogramState<T extends string> extends HistogramSeries {
  readonly labels: Record<T, string>;
  /** Observations per bucket (not cumulative); the last is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * prom-client's Histogram, its series kept here. Its registry reads a metric through `get()` (or
 * `getForPromString()`, when there is one, for the text format): both answer from these series.
 */
class SeriesHistogram<T extends string> extends Histogram<T> {
  readonly #name: string;
  readonly #help: string;
  readonly #labelNames: readonly T[];
  readonly #bounds: readonly number[];
  readonly #all = new Map<string, HistogramState<T>>();

  constructor(config: FamilyConfig<T> & { readonly buckets: readonly number[] }) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames, buckets: [...config.buckets], registers: [config.registry] });
    this.#name = config.name;
    this.#help = config.help;
    this.#labelNames = config.labelNames;
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
  }

  series(labels: Record<T, string>): HistogramSeries {
    const key = this.#labelNames.map((name) => labels[name]).join('\n');
    let series = this.#all.get(key);
    if (series === undefined) {
      const bounds = this.#bounds;
      series = {
        labels,
        counts: new Array<number>(bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
        observe(value) {
          let i = 0;
          while (i < bounds.length && value > bounds[i]!) i++;
          this.counts[i]! += 1;
          this.sum += value;
          this.count += 1;
        },
      };
      this.#all.set(key, series);
    }
    return series;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const values: { metricName: string; labels: Record<string, string | number>; value: number; exemplar?: null }[] = [];
    for (const series of this.#all.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.#name}_bucket`, labels: { le: bound, ...series.labels }, value: cumulative, exemplar: null });
      });
      values.push({ metricName: `${this.#name}_bucket`, labels: { le: '+Inf', ...series.labels }, value: series.count, exemplar: null });
      values.push({ metricName: `${this.#name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.#name}_count`, labels: series.labels, value: series.count });
    }
    // prom-client's own shape for a histogram (its types know no `le` label, nor the type's string).
    return { name: this.#name, help: this.#help, type: 'histogram', aggregator: 'sum', values } as unknown as MetricObjectWithValues<MetricValueWithName<T>>;
  }

  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return this.get();
  }

  override reset(): void {
    if (!(#all in this)) return; // prom-client's constructor resets, before this class's fields exist
    for (const series of this.#all.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
