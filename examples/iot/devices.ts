// The simulated sensors. Each one wakes up about once per `intervalMs`, measures something
// that drifts like the real thing (a daily-ish wave, a random walk, a little noise) and
// reports it. A real device would POST its reading to the server (see the
// `POST /api/devices/:id/readings` route in server.ts); these call a function instead.
//
// Devices also fail, as real ones do: `powered = false` (the "Simulate outage" button) makes
// one go silent, and with `flaky` set each one now and then drops off the network for a few
// seconds by itself. The server never hears "I am offline" — it only notices the silence.

/** What the dashboard knows about a device. */
export interface DeviceInfo {
  /** Stable id, used in topics: `/devices/<id>/readings`. */
  id: string;
  /** Where it is. */
  place: string;
  /** What it measures. */
  metric: string;
  /** The unit of its readings. */
  unit: string;
  /** Decimals worth showing. */
  decimals: number;
  /** The normal range; readings outside it are highlighted. */
  ok: [low: number, high: number];
  /** The chart's colour. */
  color: string;
}

/** How a device's readings move: `base + amplitude·sin(2πt/period) + walk + noise`. */
interface Physics {
  base: number;
  amplitude: number;
  periodS: number;
  walk: number;
  noise: number;
}

/** The six sensors of the example. */
export const DEVICES: (DeviceInfo & Physics)[] = [
  {
    id: 'greenhouse-temp',
    place: 'Greenhouse',
    metric: 'Temperature',
    unit: '°C',
    decimals: 1,
    ok: [18, 30],
    color: '#f97316',
    base: 24,
    amplitude: 3,
    periodS: 150,
    walk: 0.15,
    noise: 0.08,
  },
  {
    id: 'greenhouse-humidity',
    place: 'Greenhouse',
    metric: 'Humidity',
    unit: '%',
    decimals: 0,
    ok: [50, 80],
    color: '#0ea5e9',
    base: 66,
    amplitude: 7,
    periodS: 110,
    walk: 0.6,
    noise: 0.4,
  },
  {
    id: 'cold-room',
    place: 'Cold room',
    metric: 'Temperature',
    unit: '°C',
    decimals: 1,
    ok: [2, 5],
    color: '#6366f1',
    base: 3.6,
    amplitude: 0.9,
    periodS: 90,
    walk: 0.08,
    noise: 0.05,
  },
  {
    id: 'office-co2',
    place: 'Office',
    metric: 'CO₂',
    unit: 'ppm',
    decimals: 0,
    ok: [400, 1000],
    color: '#10b981',
    base: 760,
    amplitude: 220,
    periodS: 200,
    walk: 12,
    noise: 6,
  },
  {
    id: 'boiler',
    place: 'Boiler room',
    metric: 'Pressure',
    unit: 'bar',
    decimals: 2,
    ok: [1.2, 2],
    color: '#e11d48',
    base: 1.62,
    amplitude: 0.14,
    periodS: 70,
    walk: 0.012,
    noise: 0.006,
  },
  {
    id: 'roof-solar',
    place: 'Roof',
    metric: 'Solar power',
    unit: 'kW',
    decimals: 2,
    ok: [0, 6],
    color: '#eab308',
    base: 3.1,
    amplitude: 1.6,
    periodS: 240,
    walk: 0.08,
    noise: 0.05,
  },
];

/** The public part of a device description (without the simulation's physics). */
export function infoOf(device: DeviceInfo): DeviceInfo {
  const { id, place, metric, unit, decimals, ok, color } = device;
  return { id, place, metric, unit, decimals, ok, color };
}

/** Options of {@link SimulatedDevice.start}. */
export interface SimulationOptions {
  /** Roughly how often the device reports (each wake-up is jittered by ±10 %). */
  intervalMs: number;
  /** Whether the device drops off the network now and then by itself. */
  flaky: boolean;
  /** Receives each reading. */
  report: (value: number) => void;
}

/** One simulated sensor. */
export class SimulatedDevice {
  /** `false` while "unplugged": the device sends nothing. */
  powered = true;
  #walk = 0;
  #silentUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Where in its wave the device starts: fixed per device, so a restart continues the curve. */
  readonly #phase: number;

  /** How fast the simulated waves run: 2 means their periods take half as long. */
  readonly #speed: number;

  /**
   * @param spec - what it measures and how that moves
   * @param options.last - its last known reading (from the journal), so a restart continues
   *   the curve
   * @param options.speed - how fast simulated time runs (default 1: the periods in
   *   {@link DEVICES} are real seconds)
   */
  constructor(
    readonly spec: DeviceInfo & Physics,
    options: { last?: number | undefined; speed?: number } = {},
  ) {
    this.#phase = [...spec.id].reduce((sum, c) => sum + c.charCodeAt(0), 0) % 7;
    this.#speed = options.speed ?? 1;
    if (options.last !== undefined) this.#walk = options.last - this.#wave(Date.now());
  }

  #wave(now: number): number {
    const { base, amplitude, periodS } = this.spec;
    const cycles = (now * this.#speed) / (periodS * 1000);
    return base + amplitude * Math.sin(2 * Math.PI * cycles + this.#phase);
  }

  /** The value the sensor reads now. */
  measure(now = Date.now()): number {
    const { walk, noise, amplitude } = this.spec;
    // A random walk that is pulled back towards the wave, so it never wanders off for good.
    this.#walk += (Math.random() - 0.5) * 2 * walk - this.#walk * 0.05;
    this.#walk = Math.max(-amplitude, Math.min(amplitude, this.#walk));
    const value = this.#wave(now) + this.#walk + (Math.random() - 0.5) * 2 * noise;
    return Number(value.toFixed(this.spec.decimals + 1));
  }

  /** Starts reporting. */
  start({ intervalMs, flaky, report }: SimulationOptions): void {
    const wake = (): void => {
      const now = Date.now();
      // About once every 400 wake-ups, a flaky device loses its network for 6–20 s.
      if (flaky && now >= this.#silentUntil && Math.random() < 1 / 400) {
        this.#silentUntil = now + 6000 + Math.random() * 14_000;
      }
      if (this.powered && now >= this.#silentUntil) report(this.measure(now));
      this.#timer = setTimeout(wake, intervalMs * (0.9 + Math.random() * 0.2));
    };
    this.#timer = setTimeout(wake, Math.random() * intervalMs);
  }

  /** Stops reporting. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}
